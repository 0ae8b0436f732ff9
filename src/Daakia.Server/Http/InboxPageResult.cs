using System.Text.Json;
using Daakia.Core;
using Microsoft.AspNetCore.Http;

namespace Daakia.Server.Http;

/// <summary>
/// A page of a queue (an inbox, dead letters) streamed into the response pipe (Kestrel's pooled buffers) as it is encoded, instead of being
/// encoded into one array and then copied out: the letters are the only full copy held. Gives the page's bytes back to
/// the <see cref="RestReadBudget"/> once written (or once the client is gone).
/// </summary>
internal sealed class InboxPageResult(IReadOnlyList<QueueEntry> page, bool full, RestReadBudget budget, long reserved) : IResult
{
    // Hand encoded bytes to the socket every 32 KiB: large enough to fill segments and syscalls, small enough that the
    // encoded copy of a page never approaches the page itself.
    private const int FlushBytes = 32 * 1024;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        try
        {
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            var pipe = httpContext.Response.BodyWriter;
            await using var w = new Utf8JsonWriter(pipe, new JsonWriterOptions { SkipValidation = true });
            w.WriteStartObject();
            w.WriteStartArray("messages"u8);
            foreach (var entry in page)
            {
                RestApi.WriteEntry(w, entry);
                if (w.BytesPending > FlushBytes)
                {
                    w.Flush();
                    var flushed = await pipe.FlushAsync(httpContext.RequestAborted);
                    if (flushed.IsCanceled || flushed.IsCompleted)
                    {
                        return;
                    }
                }
            }

            w.WriteEndArray();
            if (full && page.Count > 0)
            {
                w.WriteNumber("next"u8, page[^1].Position);
            }
            else
            {
                w.WriteNull("next"u8);
            }

            w.WriteEndObject();
            w.Flush();
        }
        finally
        {
            budget.Release(reserved);
        }
    }
}
