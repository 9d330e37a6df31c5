using Lockstep.Platform.Database;
using Microsoft.Extensions.Configuration;

namespace Lockstep.Tests.Support;

/// <summary>
/// Where the Citus tests find Citus: the directory <c>Lockstep:Test:Citus</c> names (environment
/// <c>Lockstep__Test__Citus</c>), else the <c>lib</c> directory beside the PostgreSQL server binaries the
/// embedded cluster uses. Installed when that directory holds <c>citus.so</c>; the nodes are then started
/// from the <c>bin</c> directory beside it, so the server and the extension come from one build.
/// </summary>
public static class CitusInstallation
{
    public static string LibDir { get; } = FindLibDir();

    public static bool Installed { get; } = LibDir.Length > 0 && File.Exists(Path.Combine(LibDir, "citus.so"));

    public static string BinDir => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(LibDir))!, "bin");

    /// <summary>The tests on a real cluster are opt-in: <c>./lockstep test --citus</c> (environment <c>LOCKSTEP_TEST_CITUS=1</c>), or the Citus pass itself.</summary>
    public static bool Requested { get; } = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_CITUS") == "1" || TestCluster.OnCitus;

    /// <summary>Why a test on a real cluster does not run here, or null when it does.</summary>
    public static string? SkipReason =>
        !Installed ? $"Citus is not installed: no citus.so in {LibDir}"
        : !Requested ? "Citus tests are opt-in: ./lockstep test --citus"
        : null;

    private static string FindLibDir()
    {
        var configured = new ConfigurationBuilder().AddEnvironmentVariables().Build()["Lockstep:Test:Citus"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        try
        {
            return Path.Combine(Path.GetDirectoryName(PostgresBinaries.Find(null))!, "lib");
        }
        catch (EmbeddedPostgresException)
        {
            return ""; // no PostgreSQL at all: every database test says so on its own
        }
    }
}

/// <summary>A test that needs a real Citus cluster: reported as skipped, with the reason, when Citus is not installed or not asked for.</summary>
public sealed class CitusFactAttribute : FactAttribute
{
    public CitusFactAttribute() => Skip = CitusInstallation.SkipReason;
}

/// <summary>As <see cref="CitusFactAttribute"/>, for a theory.</summary>
public sealed class CitusTheoryAttribute : TheoryAttribute
{
    public CitusTheoryAttribute() => Skip = CitusInstallation.SkipReason;
}

/// <summary>
/// A test of a single-node mechanism a Citus cluster does not have: in the Citus pass it is reported as
/// skipped, with <paramref name="reason"/>; what the cluster does instead has a test of its own.
/// </summary>
public sealed class SingleNodeFactAttribute : FactAttribute
{
    public SingleNodeFactAttribute(string reason)
    {
        if (TestCluster.OnCitus)
        {
            Skip = "Not on Citus: " + reason;
        }
    }
}
