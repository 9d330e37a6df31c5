using Npgsql;

namespace Lockstep.Platform.Database;

/// <summary>
/// Refuses, before anything is sent, a text parameter holding a NUL character, which PostgreSQL rejects
/// while binding the statement (22021) rather than while running it. The error is the one the database
/// would have raised, so it maps to the same 400 everywhere. Sent, the value fails in the Bind message,
/// and Npgsql (10.0.0 and 10.0.3) mishandles that failure once the statement is auto-prepared: the
/// connection goes back to the pool with an unread result, and a later call on it fails with "Received
/// unexpected backend message DataRow", a 500 for some other request (LeadEndpointsTests shows it).
/// </summary>
public static class BindTimeErrors
{
    public static void ThrowIfRefused(NpgsqlParameter parameter)
    {
        if (parameter.Value is string text && text.Contains('\0'))
        {
            throw new PostgresException("invalid byte sequence for encoding \"UTF8\": 0x00", "ERROR", "ERROR", PostgresErrorCodes.CharacterNotInRepertoire);
        }
    }
}
