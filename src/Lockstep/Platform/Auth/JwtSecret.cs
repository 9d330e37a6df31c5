using System.Security.Cryptography;
using System.Text;

namespace Lockstep.Platform.Auth;

/// <summary>
/// The HS256 secret: <c>Lockstep:JwtSecret</c> when configured. Otherwise, in development (or on the
/// embedded database) a random one is generated once and kept in <c>jwt-secret</c> in the data folder.
/// </summary>
public sealed record JwtSecret(byte[] Key, string? DevelopmentSecretFile)
{
    public static JwtSecret Resolve(IConfiguration configuration, bool allowDevelopmentSecret)
    {
        var configured = configuration["Lockstep:JwtSecret"];
        if (!string.IsNullOrEmpty(configured))
        {
            var key = Encoding.UTF8.GetBytes(configured);
            return key.Length >= 32
                ? new JwtSecret(key, null)
                : throw new InvalidOperationException("Lockstep:JwtSecret must be at least 32 characters long.");
        }
        if (!allowDevelopmentSecret)
        {
            throw new InvalidOperationException(
                "Lockstep:JwtSecret is not set (env Lockstep__JwtSecret): a production server needs the secret its tokens are signed with.");
        }

        var dataDir = Database.DatabaseHost.DataDir(configuration);
        var file = Path.Combine(dataDir, "jwt-secret");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(dataDir);
            var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            using (var stream = new FileStream(file, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                stream.Write(Encoding.UTF8.GetBytes(secret));
            }
        }
        return new JwtSecret(Encoding.UTF8.GetBytes(File.ReadAllText(file).Trim()), file);
    }

    /// <summary>Development secrets are allowed in the Development environment and on the embedded database.</summary>
    public static bool DevelopmentAllowed(IConfiguration configuration, IHostEnvironment? environment) =>
        environment?.IsDevelopment() == true || Database.DatabaseHost.ConfiguredConnectionString(configuration) is null;
}
