/*
 * accounts.h: zero-copy views of the runtime's serialized input and the checks every account goes through.
 *
 * The entrypoint walks the input once and keeps one pointer per account into the runtime's buffer (no copies);
 * a duplicated account points at its first occurrence, and a duplicated *program-owned* account is refused
 * outright. Processors then check each account for its role:
 *
 *   owner          program-owned state must be owned by this program; "absent" means system-owned and empty;
 *   discriminator  Anchor's 8 bytes, plus a minimum length, before any field is read;
 *   signer/writable the runtime's flags;
 *   identity       PDAs are verified with sol_create_program_address from the seeds and the bump passed in the
 *                  instruction (never searched) whenever the program creates an account, and the bump must be the
 *                  canonical one so an id can never have two accounts. An existing account is authenticated by
 *                  owner + discriminator + the seed fields it stores (member.owner, message.thread and hash,
 *                  thread.thread_id), which is equivalent: only this program creates accounts it owns, each at
 *                  the verified PDA of exactly those fields. It saves a 1,500-CU syscall per account.
 */
#ifndef CHOIR_ACCOUNTS_H
#define CHOIR_ACCOUNTS_H

#include "errors.h"
#include "sol.h"

#define MAX_ACCOUNTS 40
#define MAX_PERMITTED_DATA_INCREASE 10240
#define NON_DUP_MARKER 0xff

/* One account as the runtime serializes it (loader v2/v3 aligned ABI): 88-byte header, then the data. */
typedef struct {
    uint8_t dup_info;
    uint8_t is_signer;
    uint8_t is_writable;
    uint8_t executable;
    uint32_t original_data_len;
    SolPubkey key;
    SolPubkey owner;
    uint64_t lamports;
    uint64_t data_len;
    uint8_t data[];
} Account;
STATIC_ASSERT(offsetof(Account, data) == 88, "input account header");

typedef struct {
    const SolPubkey *program_id;
    const uint8_t *data;
    uint64_t data_len;
    uint64_t count; /* accounts available in `accounts` */
    Account *accounts[MAX_ACCOUNTS];
} Context;

extern const SolPubkey SYSTEM_PROGRAM_ID;

uint64_t deserialize(const uint8_t *input, Context *ctx);

/* Role checks. */
uint64_t need_accounts(const Context *ctx, uint64_t n);
uint64_t check_signer(const Account *a);
uint64_t check_writable(const Account *a);
uint64_t check_system_program(const Account *a);
bool is_owned(const Context *ctx, const Account *a);
bool is_absent(const Account *a);
uint64_t load(const Context *ctx, Account *a, uint64_t discriminator, uint64_t size, void **out);
uint64_t load_optional(const Context *ctx, Account *a, uint64_t discriminator, uint64_t size, void **out);

/* PDAs: verify `key` is the program address of seeds + bump, and that the bump is canonical. */
uint64_t verify_pda(const Context *ctx, const SolPubkey *key, SolSignerSeed *seeds, int n_seeds, uint8_t *bump);

/* Create a program-owned PDA account of `space` bytes paid by `payer` (system program CPI, signed by the
 * PDA's seeds). Works even if someone pre-funded the address. The one place that checks the payer (signer,
 * writable), the new account (writable, absent) and the system program: processors do not repeat these checks (a
 * check made twice is one no attack can tell from its copy). BPF calls take at most five arguments, hence
 * the struct. */
typedef struct {
    Account *payer;
    Account *target;
    Account *system_program;
    const SolSignerSeed *seeds;
    uint64_t n_seeds;
} Creation;
uint64_t create_pda(const Context *ctx, const Creation *c, uint64_t space);

int64_t clock_now(void);

#endif
