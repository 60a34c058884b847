/*  pd_stream - follow an event stream from a sequence number, then live
    (see pd_stream.h)

    The follower keeps `have`, the highest sequence number it holds
    (delivered, or waiting in `ready`), and applies one rule to every
    event, from history or live: seq <= have is a duplicate and dropped,
    seq == have + 1 is the next one and kept. A live seq beyond have + 1
    means events were missed (published before our subscription reached the
    broker, or dropped at a high-water mark); they are in the store, since
    events are persisted before they are published, so the follower reads
    history from have + 1 and then goes on live. A stream silent for one
    heartbeat is checked against history too, so a lost tail is found even
    when nothing follows it.

    Events published by different threads can reach the broker a little
    out of order: a live event beyond have + 1 is first held (at most
    S_EARLY_MAX of them, at most S_EARLY_MS) in case the missing ones follow
    at once, which they nearly always do; only if they do not is history
    read (and the held ones dropped: history has them too).

    While history is being read, live events wait in the SUB socket's
    queue; once caught up, those the history already gave are dropped by the
    rule above. At most one history request is in flight; it may outlive a
    pd_stream_next call that timed out, and the next call goes on waiting
    for it. Nothing here sleeps: every wait is a poll bounded by the
    caller's time-out.

    Known limitation: history is read with a header whose principal is
    {kind: "admin"}, which the stream actor trusts. The contract has no
    credentials parameter yet; followers run in trusted operator tools. A
    broker with cluster keys lets only keys of role tail or gateway call the
    stream service and subscribe (pd_keys.h), so holding such a key is the
    right to read every stream. Replace this with real credentials (an admin
    key resolved by the auth service) with the authentication work.
*/
#include "pd_stream.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pd_client.h"
#include "pd_messages.h"
#include "pd_proto.h"

#define S_SERVICE   "stream"      //  the stream actor's service
#define S_READ_TYPE "stream.read" //  its one message type
#define S_SOURCE    "pd_stream"   //  header source, for tracing
//  A history request with no reply this long after its own deadline is
//  abandoned (the broker answers every request by its deadline when up)
#define S_GRACE_MS PD_PROTO_HEARTBEAT_MS
//  Live events held while the ones before them are awaited
#define S_EARLY_MAX 64
#define S_EARLY_MS  3

//  An event in hand, not yet delivered
typedef struct {
    uint64_t seq;
    uint8_t *data; //  msgpack event, malloc'd
    size_t size;
} s_event_t;

struct _pd_stream_t {
    char *stream;        //  name of the stream followed
    pd_client_t *client; //  services socket, for history reads
    zsock_t *sub;        //  stream socket, subscribed to our name
    uint8_t *header;     //  encoded request header, made once
    size_t header_size;
    uint64_t last;     //  last sequence number delivered
    uint64_t have;     //  highest sequence number delivered or ready
    s_event_t *ready;  //  events have-n+1..have, in order
    size_t ready_head; //  first not yet delivered
    size_t ready_count;
    size_t ready_max;
    bool syncing;                 //  history must be read before going on live
    bool pending;                 //  a history request is in flight
    uint64_t pending_id;          //  its request id
    int64_t pending_expiry;       //  zclock_mono () after which it is abandoned
    int64_t idle_at;              //  zclock_mono () at which silence means "check history"
    s_event_t early[S_EARLY_MAX]; //  live events beyond have + 1, held
    size_t early_count;
    int64_t early_until; //  zclock_mono () after which the missing ones come from history
};

//  ------------------------------------------------------------------------
//  The events in hand

static void
s_ready_clear (pd_stream_t *self)
{
    for (size_t i = self->ready_head; i < self->ready_count; i++)
        free (self->ready[i].data);
    self->ready_head = self->ready_count = 0;
}

//  Apply the rule to one event; takes ownership of data either way.
//  Returns true if the event was kept, false if it was a duplicate or a
//  gap (the caller decides what a gap means).
static bool
s_ready_add (pd_stream_t *self, uint64_t seq, uint8_t *data, size_t size)
{
    if (seq != self->have + 1) {
        free (data);
        return false;
    }
    if (self->ready_head == self->ready_count)
        self->ready_head = self->ready_count = 0;
    if (self->ready_count == self->ready_max) {
        size_t max = self->ready_max ? 2 * self->ready_max : 64;
        s_event_t *ready = realloc (self->ready, max * sizeof (s_event_t));
        if (!ready) {
            //  Not kept: history will give it again
            free (data);
            return false;
        }
        self->ready = ready;
        self->ready_max = max;
    }
    self->ready[self->ready_count++] = (s_event_t){seq, data, size};
    self->have = seq;
    return true;
}

//  Drop the events held early
static void
s_early_clear (pd_stream_t *self)
{
    for (size_t i = 0; i < self->early_count; i++)
        free (self->early[i].data);
    self->early_count = 0;
}

//  Move the held events that are next now to `ready`, in order (and drop
//  those history or live gave already)
static void
s_early_drain (pd_stream_t *self)
{
    bool moved = true;
    while (moved && self->early_count) {
        moved = false;
        for (size_t i = 0; i < self->early_count; i++) {
            s_event_t *held = &self->early[i];
            if (held->seq > self->have + 1)
                continue;
            if (held->seq == self->have + 1)
                s_ready_add (self, held->seq, held->data, held->size);
            else
                free (held->data);
            self->early[i] = self->early[--self->early_count];
            moved = true;
            break;
        }
    }
}

//  A live event beyond have + 1: hold it a moment, or (too many held) read
//  history. Takes ownership of data.
static void
s_early_hold (pd_stream_t *self, uint64_t seq, uint8_t *data, size_t size)
{
    bool known = false;
    for (size_t i = 0; i < self->early_count && !known; i++)
        known = self->early[i].seq == seq;
    if (known || self->early_count == S_EARLY_MAX) {
        free (data);
        if (!known) {
            s_early_clear (self);
            self->syncing = true; //  missed some: history has them
        }
        return;
    }
    if (self->early_count == 0)
        self->early_until = zclock_mono () + S_EARLY_MS;
    self->early[self->early_count++] = (s_event_t){seq, data, size};
}

//  ------------------------------------------------------------------------
//  History

static int
s_history_send (pd_stream_t *self)
{
    pd_stream_read_t read = {0};
    read.stream = self->stream;
    read.from = (int64_t)self->have + 1;
    PD_MARK (&read, stream_read, from);
    read.limit = PD_STREAM_READ_MAX;
    PD_MARK (&read, stream_read, limit);
    uint8_t *body = NULL;
    size_t body_size = 0;
    int rc = pd_schema_encode (&pd_stream_read_schema, &read, &body, &body_size);
    if (rc == PD_OK)
        rc = pd_client_send (self->client, S_SERVICE, self->header, self->header_size, body,
                             body_size, PD_PROTO_DEFAULT_TIMEOUT_MS, &self->pending_id);
    free (body);
    if (rc == PD_OK) {
        self->pending = true;
        self->pending_expiry = zclock_mono () + PD_PROTO_DEFAULT_TIMEOUT_MS + S_GRACE_MS;
    }
    return rc;
}

//  Take a page of history: its events, and whether we caught up
static void
s_history_take (pd_stream_t *self, pd_stream_page_t *page)
{
    pd_stream_item_t *items = page->items.items;
    for (size_t i = 0; i < page->items.size; i++) {
        uint64_t seq = (uint64_t)items[i].seq;
        //  The store is gapless; should history ever skip numbers (events
        //  that no longer exist), what it has is all there is to deliver
        if (seq > self->have + 1)
            self->have = seq - 1;
        uint8_t *data = NULL;
        size_t size = 0;
        if (pd_schema_encode (&pd_event_schema, items[i].event, &data, &size) != PD_OK)
            break; //  out of memory: the idle check reads it again
        s_ready_add (self, seq, data, size);
    }
    //  An empty page ends the catch-up even if last_seq says more: the idle
    //  check asks again later rather than in a loop
    if (page->items.size == 0 || self->have >= (uint64_t)page->last_seq)
        self->syncing = false;
    self->idle_at = zclock_mono () + PD_PROTO_HEARTBEAT_MS;
}

//  Read one page of history from have + 1, waiting until `deadline` at most.
//  PD_OK (page taken), PD_E_TIMEOUT (still waiting: call again), or the
//  error that made the read fail.
static int
s_history (pd_stream_t *self, int64_t deadline)
{
    if (!self->pending) {
        int rc = s_history_send (self);
        if (rc != PD_OK)
            return rc;
    }
    while (true) {
        int64_t now = zclock_mono ();
        int64_t until = deadline < self->pending_expiry ? deadline : self->pending_expiry;
        int wait = until > now ? (int)(until - now) : 0;
        uint64_t id = 0;
        int status = PD_OK;
        uint8_t *body = NULL;
        size_t body_size = 0;
        int rc = pd_client_recv (self->client, &id, &status, &body, &body_size, wait);
        if (rc == PD_E_TIMEOUT) {
            if (zclock_mono () < self->pending_expiry)
                return PD_E_TIMEOUT;
            self->pending = false; //  no broker answered
            return PD_E_UNAVAILABLE;
        }
        if (rc != PD_OK)
            return rc;
        if (id != self->pending_id) { //  a reply to an abandoned request
            free (body);
            continue;
        }
        self->pending = false;
        if (status == PD_OK) {
            pd_stream_page_t page = {0};
            status = pd_schema_decode (&pd_stream_page_schema, body, body_size, &page, NULL);
            if (status == PD_OK)
                s_history_take (self, &page);
            else
                status = PD_E_PROTOCOL;
            pd_schema_clear (&pd_stream_page_schema, &page);
        }
        free (body);
        return status;
    }
}

//  ------------------------------------------------------------------------
//  Live

//  Take one message from the stream socket: stream, seq (u64), event
static void
s_live_take (pd_stream_t *self)
{
    zmsg_t *msg = zmsg_recv (self->sub);
    if (!msg)
        return;
    zframe_t *name = zmsg_first (msg);
    zframe_t *seq_frame = zmsg_next (msg);
    zframe_t *event = zmsg_next (msg);
    uint64_t seq = 0;
    //  The subscription is a prefix: "audit" also gets "audit2"
    if (zmsg_size (msg) == 3 && zframe_streq (name, self->stream) &&
        pd_proto_get_u64 (seq_frame, &seq) == 0 && zframe_size (event) > 0) {
        self->idle_at = zclock_mono () + PD_PROTO_HEARTBEAT_MS;
        uint8_t *data = seq > self->have ? malloc (zframe_size (event)) : NULL;
        if (seq > self->have && !data)
            self->syncing = true; //  out of memory: history has it
        else if (data) {
            memcpy (data, zframe_data (event), zframe_size (event));
            if (seq > self->have + 1)
                s_early_hold (self, seq, data, zframe_size (event));
            else {
                s_ready_add (self, seq, data, zframe_size (event));
                s_early_drain (self);
            }
        } //  else a duplicate
    }
    zmsg_destroy (&msg);
}

//  ------------------------------------------------------------------------
//  Public API

void
pd_stream_destroy (pd_stream_t **self_p)
{
    pd_stream_t *self = *self_p;
    if (!self)
        return;
    s_ready_clear (self);
    s_early_clear (self);
    free (self->ready);
    pd_client_destroy (&self->client);
    zsock_destroy (&self->sub);
    free (self->header);
    free (self->stream);
    free (self);
    *self_p = NULL;
}

static int
s_header_encode (pd_stream_t *self)
{
    //  See "Known limitation" at the top of this file
    pd_principal_t principal = {0};
    principal.kind = "admin";
    pd_header_t header = {0};
    header.type = S_READ_TYPE;
    header.principal = &principal;
    header.source = S_SOURCE;
    return pd_schema_encode (&pd_header_schema, &header, &self->header, &self->header_size);
}

//  "From the current end": ask where the end is now (a one-item read
//  whose last_seq we keep), synchronously, as pd_stream_new promises
static int
s_history_end (pd_stream_t *self)
{
    pd_stream_read_t read = {0};
    read.stream = self->stream;
    read.limit = 1;
    PD_MARK (&read, stream_read, limit);
    uint8_t *body = NULL;
    size_t body_size = 0;
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    pd_stream_page_t page = {0};
    int rc = pd_schema_encode (&pd_stream_read_schema, &read, &body, &body_size);
    if (rc == PD_OK)
        rc = pd_client_request (self->client, S_SERVICE, self->header, self->header_size, body,
                                body_size, PD_PROTO_DEFAULT_TIMEOUT_MS, &reply, &reply_size);
    if (rc == PD_OK)
        rc = pd_schema_decode (&pd_stream_page_schema, reply, reply_size, &page, NULL);
    if (rc == PD_OK)
        self->have = (uint64_t)page.last_seq;
    pd_schema_clear (&pd_stream_page_schema, &page);
    free (body);
    free (reply);
    return rc;
}

pd_stream_t *
pd_stream_new (const char *broker_endpoint, const char *stream_endpoint, const char *stream,
               uint64_t from)
{
    return pd_stream_new_curve (broker_endpoint, stream_endpoint, stream, from, NULL);
}

pd_stream_t *
pd_stream_new_curve (const char *broker_endpoint, const char *stream_endpoint, const char *stream,
                     uint64_t from, const pd_keys_pair_t *keys)
{
    if (!broker_endpoint || !stream_endpoint || !stream || !*stream ||
        strlen (stream) > PD_PROTO_MAX_STREAM || from > INT64_MAX)
        return NULL;
    pd_stream_t *self = calloc (1, sizeof (pd_stream_t));
    if (!self)
        return NULL;
    self->stream = strdup (stream);
    //  Subscribe first: what is published from now on waits in the socket
    self->sub = zsock_new (ZMQ_SUB);
    if (!self->stream || !self->sub || s_header_encode (self) != PD_OK)
        goto failed;
    if (keys)
        pd_keys_pair_apply (keys, self->sub);
    zsock_set_rcvhwm (self->sub, PD_PROTO_HWM);
    zsock_set_maxmsgsize (self->sub, PD_PROTO_MAX_MSG_SIZE);
    zsock_set_subscribe (self->sub, stream);
    if (zsock_attach (self->sub, stream_endpoint, false) != 0) {
        zsys_error ("stream: cannot connect to %s", stream_endpoint);
        goto failed;
    }
    self->client = pd_client_new_curve (broker_endpoint, keys);
    if (!self->client) {
        zsys_error ("stream: cannot connect to %s", broker_endpoint);
        goto failed;
    }
    if (from == 0) {
        int rc = s_history_end (self);
        if (rc != PD_OK) {
            zsys_error ("stream: cannot read the end of %s rc=%s", stream, pd_status_code (rc));
            goto failed;
        }
        self->last = self->have;
    } else {
        self->last = self->have = from - 1;
        self->syncing = true;
    }
    self->idle_at = zclock_mono () + PD_PROTO_HEARTBEAT_MS;
    return self;

failed:
    pd_stream_destroy (&self);
    return NULL;
}

int
pd_stream_next (pd_stream_t *self, uint64_t *seq, uint8_t **event, size_t *size, int timeout_ms)
{
    assert (self && seq && event && size);
    *seq = 0;
    *event = NULL;
    *size = 0;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    while (true) {
        if (self->ready_head < self->ready_count) {
            s_event_t *next = &self->ready[self->ready_head++];
            self->last = next->seq;
            *seq = next->seq;
            *event = next->data;
            *size = next->size;
            return PD_OK;
        }
        int64_t now = zclock_mono ();
        if (self->early_count && now >= self->early_until) {
            //  The missing ones did not follow: history has them (and the
            //  held ones, which it gives again)
            s_early_clear (self);
            self->syncing = true;
        }
        if (self->syncing) {
            s_early_clear (self);
            int rc = s_history (self, deadline);
            if (rc != PD_OK)
                return rc;
            continue;
        }
        if (now >= self->idle_at) {
            self->syncing = true;
            continue;
        }
        int64_t until = deadline < self->idle_at ? deadline : self->idle_at;
        if (self->early_count && self->early_until < until)
            until = self->early_until;
        zmq_pollitem_t item = {zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
        int wait = until > now ? (int)(until - now) : 0;
        if (zmq_poll (&item, 1, wait) > 0)
            s_live_take (self);
        else if (zclock_mono () >= deadline)
            return PD_E_TIMEOUT;
        else if (zsys_interrupted)
            return PD_E_TIMEOUT; //  the caller decides whether to stop
    }
}

uint64_t
pd_stream_position (pd_stream_t *self)
{
    assert (self);
    return self->last;
}
