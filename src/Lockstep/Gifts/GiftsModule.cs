using Lockstep.Platform.Errors;
using Lockstep.Platform.Http;

namespace Lockstep.Gifts;

/// <summary>Gifts: wishlists, full and split claims, notifications and their live stream.</summary>
public static class GiftsModule
{
    public static WebApplicationBuilder AddGifts(this WebApplicationBuilder builder)
    {
        ApiJson.Add(builder.Services, GiftsJson.Default);
        Problems.AddConflictCodes("item_already_claimed", "already_pledged", "has_contributions", "split_already_open", "split_fully_funded");
        Problems.AddConstraint("pledge_immutable", "pledge_immutable", "A pledge cannot be removed");
        Problems.AddConstraint("gift_claims_one_per_member", "already_pledged", "That member already takes part in this item");
        Problems.AddConstraint("wishlist_items_total_fits", "amount_too_large", "The price and additional costs together are at most 9999999999.99");
        builder.Services.AddSingleton<NotificationHub>();
        builder.Services.AddHostedService<NotificationListener>();
        return builder;
    }

    public static WebApplication MapGifts(this WebApplication app)
    {
        app.MapWishlists();
        app.MapClaims();
        app.MapNotifications();
        return app;
    }
}
