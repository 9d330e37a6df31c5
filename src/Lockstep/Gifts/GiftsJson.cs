using System.Text.Json.Serialization;

namespace Lockstep.Gifts;

/// <summary>Source-generated JSON for the Gifts module's requests and responses (the same options as ApiJson).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CreateWishlistRequest))]
[JsonSerializable(typeof(WishlistCreated))]
[JsonSerializable(typeof(WishlistList))]
[JsonSerializable(typeof(WishlistView))]
[JsonSerializable(typeof(AddItemRequest))]
[JsonSerializable(typeof(ItemAdded))]
[JsonSerializable(typeof(ClaimResult))]
[JsonSerializable(typeof(ItemUnclaimed))]
[JsonSerializable(typeof(OpenSplitRequest))]
[JsonSerializable(typeof(SplitOpened))]
[JsonSerializable(typeof(PledgeRequest))]
[JsonSerializable(typeof(PledgeResult))]
[JsonSerializable(typeof(SplitClosed))]
[JsonSerializable(typeof(SplitStatus))]
[JsonSerializable(typeof(SuggestedShare))]
[JsonSerializable(typeof(NotificationPage))]
[JsonSerializable(typeof(NotificationRead))]
[JsonSerializable(typeof(NotificationsMarked))]
public sealed partial class GiftsJson : JsonSerializerContext;
