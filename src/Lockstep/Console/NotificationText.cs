using System.Text.Json;

namespace Lockstep.WebConsole;

/// <summary>A notification as a sentence.</summary>
public static class NotificationText
{
    public static string Of(JsonElement row)
    {
        var data = row.GetProperty("data");
        var item = data.TryGetProperty("item_title", out var t) ? t.GetString() : "an item";
        var who = data.TryGetProperty("claimer_name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : "Someone";
        return row.GetProperty("type").GetString() switch
        {
            "item_claimed" => $"{who} claimed {item}",
            "split_invite" => $"{who} opened a split for {item}: chip in",
            "split_fully_funded" => $"{item} is fully funded",
            "split_canceled" => $"{who} canceled the split for {item}",
            var other => $"{other} on {item}",
        };
    }
}
