/*  pd_stream_actor - reading event streams from history (see pd_stream_actor.h)
 */
#include "pd_stream_actor.h"

#include <stdlib.h>
#include <string.h>

//  The actor's state
typedef struct {
    pd_store_t *store; //  shared store (not owned)
} self_t;

static void *
s_self_new (pd_store_t *store, const pd_config_t *config)
{
    self_t *self = calloc (1, sizeof (self_t));
    if (self)
        self->store = store;
    return self;
}

static void
s_self_destroy (void **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

static int
s_stream_read (void *state, pd_ctx_t *ctx, const void *request, void *reply)
{
    self_t *self = state;
    const pd_stream_read_t *req = request;
    pd_stream_page_t *page = reply;

    if (!pd_ctx_allowed (ctx, "admin"))
        return PD_E_FORBIDDEN;

    uint64_t from = PD_HAS (req, stream_read, from) ? (uint64_t)req->from : 1;
    size_t limit =
        PD_HAS (req, stream_read, limit) ? (size_t)req->limit : PD_STREAM_ACTOR_READ_DEFAULT;
    pd_store_item_t *items = NULL;
    size_t count = 0;
    int rc = pd_store_stream_read (self->store, PD_ACTOR_EVENT_TABLE, req->stream, from, limit,
                                   &items, &count);
    if (rc == PD_E_NOT_FOUND) { //  a stream nobody wrote yet is empty
        rc = PD_OK;
        count = 0;
    }
    if (rc != PD_OK)
        return pd_ctx_fail (ctx, rc, NULL, "stream read failed");

    //  Read after the items, the last seq is never below the last item's
    uint64_t last_seq = pd_store_stream_last (self->store, PD_ACTOR_EVENT_TABLE, req->stream);
    if (count && items[count - 1].seq > last_seq)
        last_seq = items[count - 1].seq;

    //  Move the event bytes into the page, as many as fit one message
    pd_stream_item_t *page_items = count ? calloc (count, sizeof (pd_stream_item_t)) : NULL;
    if (count && !page_items) {
        pd_store_items_destroy (&items, count);
        return PD_E_INTERNAL;
    }
    size_t bytes = 0;
    size_t taken = 0;
    for (; taken < count; taken++) {
        bytes += items[taken].size;
        if (taken > 0 && bytes > PD_STREAM_ACTOR_PAGE_BYTES)
            break;
        pd_stream_item_t *item = &page_items[taken];
        item->seq = (int64_t)items[taken].seq;
        PD_MARK (item, stream_item, seq);
        item->event = calloc (1, sizeof (pd_event_t));
        if (!item->event || pd_schema_decode (&pd_event_schema, items[taken].data,
                                              items[taken].size, item->event, NULL) != PD_OK) {
            page->items.items = page_items;
            page->items.size = taken + 1; //  the reply is cleared by the runtime
            pd_store_items_destroy (&items, count);
            return pd_ctx_fail (ctx, PD_E_INTERNAL, NULL, "stored event does not decode");
        }
    }
    pd_store_items_destroy (&items, count);
    page->items.items = page_items;
    page->items.size = taken;
    PD_MARK (page, stream_page, items);
    page->last_seq = (int64_t)last_seq;
    PD_MARK (page, stream_page, last_seq);
    return PD_OK;
}

static const pd_handler_t s_handlers[] = {
    {"stream.read", s_stream_read},
    {NULL, NULL},
};

const pd_actor_def_t pd_stream_actor = {.service = "stream",
                                        .handlers = s_handlers,
                                        .state_new = s_self_new,
                                        .state_destroy = s_self_destroy};
