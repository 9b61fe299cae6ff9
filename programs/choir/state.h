/*
 * state.h: account layouts (SPEC sections 2 and 9), read and written in place (zero copy).
 *
 * Every account starts with Anchor's 8-byte discriminator (sha256("account:<Name>")[:8]) and continues with a
 * Borsh layout: little-endian fields, no padding. The C structs are ordered so natural alignment adds no padding
 * (u64/i64 first, then 32-byte keys, then bytes); the static asserts pin every offset, and the IDL
 * (programs/choir/idl.json) describes the same bytes, explicit `reserved` fields included. The tests round-trip
 * every layout between the two.
 *
 * Tokens are a program-internal u64 ledger: the treasury, each member's wallet, each thread's balance and each
 * pending spec's escrow are fields of these accounts, and every instruction moves them with checked arithmetic.
 */
#ifndef CHOIR_STATE_H
#define CHOIR_STATE_H

#include "sol.h"

#define MAX_AUTHORITIES 3
#define MAX_COAUTHORS_LAYOUT 32 /* layouts hold up to 32; the config's max_coauthors is at most this */
#define THREAD_ID_LAYOUT 32      /* PDA seed limit */

/* Discriminators: sha256("account:<Name>")[:8] read as little-endian u64. */
#define DISC_CONFIG 0x82ccfa1ee0aa0c9bULL
#define DISC_TREASURY 0xfda80159ee7befeeULL
#define DISC_MEMBER 0xc611a61d15a21336ULL
#define DISC_THREAD 0x5a9f24336f9a1bbaULL
#define DISC_MESSAGE 0xb57d06c66e17976eULL

/* PDA seed prefixes. */
#define SEED_CONFIG "config"
#define SEED_TREASURY "treasury"
#define SEED_MEMBER "member"
#define SEED_THREAD "thread"
#define SEED_MESSAGE "message"

/* Config: PDA ["config"]. Parameters (SPEC section 1) and the treasury multisig. */
typedef struct {
    uint64_t discriminator;
    uint64_t total_supply;
    uint64_t min_stake;
    uint64_t min_thread_balance;
    int64_t approval_window;
    int64_t divest_cooldown;
    uint64_t max_pending;
    SolPubkey authorities[MAX_AUTHORITIES];
    uint8_t authority_count;
    uint8_t threshold;
    uint8_t max_coauthors;
    uint8_t thread_id_max;
    uint8_t decimals;
    uint8_t bump;
    uint8_t reserved[2];
} Config;
STATIC_ASSERT(offsetof(Config, max_pending) == 48, "Config layout");
STATIC_ASSERT(offsetof(Config, authorities) == 56, "Config layout");
STATIC_ASSERT(offsetof(Config, authority_count) == 152, "Config layout");
STATIC_ASSERT(sizeof(Config) == 160, "Config size");

/* Treasury: PDA ["treasury"]. Holds TOTAL_SUPPLY at genesis. */
typedef struct {
    uint64_t discriminator;
    uint64_t balance;
    uint8_t bump;
    uint8_t reserved[7];
} Treasury;
STATIC_ASSERT(sizeof(Treasury) == 24, "Treasury size");

/* Member: PDA ["member", user]. The user's wallet balance. */
typedef struct {
    uint64_t discriminator;
    uint64_t balance;
    SolPubkey owner;
    uint8_t bump;
    uint8_t reserved[7];
} Member;
STATIC_ASSERT(offsetof(Member, owner) == 16, "Member layout");
STATIC_ASSERT(sizeof(Member) == 56, "Member size");

/* Thread: PDA ["thread", thread_id]. `spec_authors` are the authors holding a pending spec (a reserved seat
 * each); `pending` counts Pending messages, specs and public requests alike. `last_divest[i]` belongs to
 * `co_authors[i]` and holds a time only once bit i of `divested` is set: every i64 is a valid time (SPEC
 * section 1), so no time value can mean "never divested". Only divest sets a bit, its co-author's, and
 * co-authors are never removed: the bit of a seat not yet taken is 0 (a new co-author starts undivested). */
typedef struct {
    uint64_t discriminator;
    uint64_t balance;
    int64_t created_at;
    int64_t updated_at;
    uint64_t message_count;
    uint32_t pending;
    uint8_t co_author_count;
    uint8_t spec_author_count;
    uint8_t thread_id_len;
    uint8_t bump;
    uint8_t thread_id[THREAD_ID_LAYOUT];
    int64_t last_divest[MAX_COAUTHORS_LAYOUT];
    SolPubkey co_authors[MAX_COAUTHORS_LAYOUT];
    SolPubkey spec_authors[MAX_COAUTHORS_LAYOUT];
    uint32_t divested;
    uint8_t reserved[4];
} Thread;
STATIC_ASSERT(offsetof(Thread, pending) == 40, "Thread layout");
STATIC_ASSERT(offsetof(Thread, thread_id) == 48, "Thread layout");
STATIC_ASSERT(offsetof(Thread, last_divest) == 80, "Thread layout");
STATIC_ASSERT(offsetof(Thread, co_authors) == 336, "Thread layout");
STATIC_ASSERT(offsetof(Thread, spec_authors) == 1360, "Thread layout");
STATIC_ASSERT(offsetof(Thread, divested) == 2384, "Thread layout");
STATIC_ASSERT(sizeof(Thread) == 2392, "Thread size");

/* Message states (SPEC section 2) and privacy levels: Borsh enums, one byte each. */
enum { STATE_DRAFT, STATE_SUBMITTED, STATE_PRIVATE, STATE_PENDING, STATE_PUBLIC, STATE_REJECTED, STATE_EXPIRED };
enum { PRIVACY_PUBLIC, PRIVACY_PREMIUM, PRIVACY_THREAD_ONLY, PRIVACY_COUNT };
enum { VOTE_NONE, VOTE_APPROVE, VOTE_DENY };

/* Message: PDA ["message", thread, content_hash]. `voters` is the snapshot taken when the approval starts;
 * `votes[i]` is voters[i]'s vote. `stake` is what it holds in escrow now. */
typedef struct {
    uint64_t discriminator;
    uint64_t stake;
    int64_t created_at;
    int64_t deadline;
    SolPubkey thread;
    uint8_t content_hash[32];
    SolPubkey author;
    uint8_t state;
    uint8_t privacy;
    bool is_spec;
    bool has_deadline;
    uint8_t voter_count;
    uint8_t vote_count;
    uint8_t bump;
    uint8_t reserved;
    SolPubkey voters[MAX_COAUTHORS_LAYOUT];
    uint8_t votes[MAX_COAUTHORS_LAYOUT];
} Message;
STATIC_ASSERT(offsetof(Message, thread) == 32, "Message layout");
STATIC_ASSERT(offsetof(Message, state) == 128, "Message layout");
STATIC_ASSERT(offsetof(Message, voters) == 136, "Message layout");
STATIC_ASSERT(offsetof(Message, votes) == 1160, "Message layout");
STATIC_ASSERT(sizeof(Message) == 1192, "Message size");

#endif
