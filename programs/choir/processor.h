/*
 * processor.h: one processor per instruction (programs/choir/processor/<name>.c), plus the helpers they share.
 *
 * Each processor checks its accounts (accounts.h), parses its arguments (instruction.h), runs the SPEC section 3
 * guards in the SPEC's order (the first failing guard names the error) and only then changes state, so a failed
 * instruction changes nothing even before the runtime rolls it back.
 */
#ifndef CHOIR_PROCESSOR_H
#define CHOIR_PROCESSOR_H

#include "accounts.h"
#include "errors.h"
#include "instruction.h"
#include "state.h"

uint64_t process_initialize(Context *ctx);
uint64_t process_open_member(Context *ctx);
uint64_t process_fund_member(Context *ctx);
uint64_t process_create_thread(Context *ctx);
uint64_t process_submit_message(Context *ctx);
uint64_t process_request_public(Context *ctx);
uint64_t process_submit_spec(Context *ctx);
uint64_t process_process_approval(Context *ctx);
uint64_t process_expire_approval(Context *ctx);
uint64_t process_divest_tokens(Context *ctx);

/* Shared lookups (ledger.c). */
int64_t find_key(const SolPubkey *keys, uint64_t count, const SolPubkey *key);
uint64_t load_config(const Context *ctx, Account *a, Config **out);
uint64_t load_treasury(const Context *ctx, Account *a, Treasury **out);
uint64_t load_thread(const Context *ctx, Account *a, Thread **out);
uint64_t load_thread_message(const Context *ctx, Account *thread_account, Account *message_account, Thread **thread,
                             Message **message);
uint64_t load_member(const Context *ctx, Account *a, const SolPubkey *owner, bool optional, Member **out);
uint64_t deadline_after(int64_t now, int64_t window, int64_t *out);

/* A message submit_message or submit_spec creates (ledger.c). The processor fills the accounts and the args;
 * check_new_message fills the bump and the seeds, which point at `bump`, so the struct must stay in the
 * processor's frame until create_message has run. BPF calls take at most five arguments, hence the struct. */
typedef struct {
    Account *payer;
    Account *account;        /* the message, PDA ["message", thread, content_hash] */
    Account *thread;
    Account *system_program;
    const Account *author;
    const SubmitArgs *args;
    uint8_t bump;
    SolSignerSeed seeds[4];
} NewMessage;
uint64_t check_new_message(const Context *ctx, NewMessage *m);
uint64_t create_message(const Context *ctx, const NewMessage *m, int64_t now, Message **out);

/* Settlement (settle.c): move a Pending message to its terminal state and route its stake (SPEC section 4). */
enum { OUTCOME_APPROVED, OUTCOME_DENIED, OUTCOME_MIXED, OUTCOME_EXPIRED };
typedef struct {
    Thread *thread;
    Message *message;
    Treasury *treasury;     /* may be NULL when the message holds no stake */
    uint64_t outcome;
    uint64_t first_member;  /* index of the first approver wallet among the accounts */
} Settlement;
uint64_t close_message(Context *ctx, const Settlement *s);

#endif
