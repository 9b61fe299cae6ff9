/*
 * accounts.c: input deserialization, account role checks, PDA verification and account creation (see
 * accounts.h for the rules and why they are sufficient).
 */
#include "accounts.h"

const SolPubkey SYSTEM_PROGRAM_ID = {{0}};

/* Rent exemption: (128 + space) * lamports_per_byte_year * exemption_threshold, Solana's fixed 3480 * 2.0. */
#define RENT_ACCOUNT_OVERHEAD 128
#define RENT_LAMPORTS_PER_BYTE 6960

uint64_t deserialize(const uint8_t *input, Context *ctx) {
    uint64_t n = *(const uint64_t *)input;
    const uint8_t *p = input + sizeof(uint64_t);
    uint64_t dup_mask = 0;
    ctx->count = 0;
    for (uint64_t i = 0; i < n; i++) {
        Account *a = (Account *)p;
        if (a->dup_info == NON_DUP_MARKER) {
            uint64_t len = (88 + a->data_len + MAX_PERMITTED_DATA_INCREASE + 7) & ~7ULL;
            p += len + sizeof(uint64_t); /* rent_epoch */
        } else {
            /* A duplicate: 1 byte index + 7 bytes padding; it views its first occurrence. */
            uint64_t original = a->dup_info;
            p += 8;
            if (original >= i) return ERR_CONSTRAINT_RAW;
            if (i >= MAX_ACCOUNTS) continue;
            a = ctx->accounts[original];
            dup_mask |= 1ULL << i;
        }
        if (i < MAX_ACCOUNTS) {
            ctx->accounts[i] = a;
            ctx->count = i + 1;
        }
    }
    ctx->data_len = *(const uint64_t *)p;
    ctx->data = p + sizeof(uint64_t);
    ctx->program_id = (const SolPubkey *)(ctx->data + ctx->data_len);
    /* Program state passed twice could be read through one role and written through another: refuse it. */
    for (uint64_t i = 0; dup_mask != 0; i++, dup_mask >>= 1) {
        if ((dup_mask & 1) && key_eq(&ctx->accounts[i]->owner, ctx->program_id)) return ERR_CONSTRAINT_RAW;
    }
    return OK;
}

uint64_t need_accounts(const Context *ctx, uint64_t n) {
    return ctx->count < n ? ERR_ACCOUNT_NOT_ENOUGH_KEYS : OK;
}

uint64_t check_signer(const Account *a) {
    return a->is_signer ? OK : ERR_ACCOUNT_NOT_SIGNER;
}

uint64_t check_writable(const Account *a) {
    return a->is_writable ? OK : ERR_CONSTRAINT_MUT;
}

uint64_t check_system_program(const Account *a) {
    return key_eq(&a->key, &SYSTEM_PROGRAM_ID) ? OK : ERR_CONSTRAINT_ADDRESS;
}

bool is_owned(const Context *ctx, const Account *a) {
    return key_eq(&a->owner, ctx->program_id);
}

bool is_absent(const Account *a) {
    return a->data_len == 0 && key_eq(&a->owner, &SYSTEM_PROGRAM_ID);
}

uint64_t load(const Context *ctx, Account *a, uint64_t discriminator, uint64_t size, void **out) {
    if (!is_owned(ctx, a)) return is_absent(a) ? ERR_ACCOUNT_NOT_INITIALIZED : ERR_ACCOUNT_OWNED_BY_WRONG_PROGRAM;
    if (a->data_len < sizeof(uint64_t)) return ERR_ACCOUNT_DISCRIMINATOR_NOT_FOUND;
    if (*(const uint64_t *)a->data != discriminator) return ERR_ACCOUNT_DISCRIMINATOR_MISMATCH;
    if (a->data_len < size) return ERR_ACCOUNT_DID_NOT_DESERIALIZE;
    *out = a->data;
    return OK;
}

uint64_t load_optional(const Context *ctx, Account *a, uint64_t discriminator, uint64_t size, void **out) {
    if (is_absent(a)) {
        *out = NULL;
        return OK;
    }
    return load(ctx, a, discriminator, size, out);
}

uint64_t verify_pda(const Context *ctx, const SolPubkey *key, SolSignerSeed *seeds, int n_seeds, uint8_t *bump) {
    SolPubkey derived;
    if (sol_create_program_address(seeds, n_seeds, ctx->program_id, &derived) != 0) return ERR_CONSTRAINT_SEEDS;
    if (!key_eq(&derived, key)) return ERR_CONSTRAINT_SEEDS;
    /* Canonical bump: every higher bump must land on the curve (expected ~1 extra call). */
    uint8_t given = *bump;
    for (uint64_t b = (uint64_t)given + 1; b <= 255; b++) {
        *bump = (uint8_t)b;
        uint64_t off_curve = sol_create_program_address(seeds, n_seeds, ctx->program_id, &derived) == 0;
        if (off_curve) {
            *bump = given;
            return ERR_CONSTRAINT_SEEDS;
        }
    }
    *bump = given;
    return OK;
}

static void account_info(Account *a, SolAccountInfo *info) {
    info->key = &a->key;
    info->lamports = &a->lamports;
    info->data_len = a->data_len;
    info->data = a->data;
    info->owner = &a->owner;
    uint64_t rent_at = (88 + a->data_len + MAX_PERMITTED_DATA_INCREASE + 7) & ~7ULL;
    info->rent_epoch = *(const uint64_t *)((const uint8_t *)a + rent_at);
    info->is_signer = a->is_signer;
    info->is_writable = a->is_writable;
    info->executable = a->executable;
}

/* One system-program call signed by the new account's PDA seeds. `data` is the bincode SystemInstruction;
 * `with_payer` puts the payer first (CreateAccount, Transfer). */
static uint64_t system_call(const Creation *c, bool with_payer, uint8_t *data, uint64_t data_len) {
    SolAccountMeta metas[2];
    SolAccountInfo infos[2];
    uint64_t n = 0;
    if (with_payer) {
        metas[n].pubkey = &c->payer->key;
        metas[n].is_writable = true;
        metas[n].is_signer = true;
        account_info(c->payer, &infos[n]);
        n++;
    }
    metas[n].pubkey = &c->target->key;
    metas[n].is_writable = true;
    metas[n].is_signer = true;
    account_info(c->target, &infos[n]);
    n++;
    SolInstruction ix = {&c->system_program->key, metas, n, data, data_len};
    SolSignerSeeds signer = {c->seeds, c->n_seeds};
    return sol_invoke_signed_c(&ix, infos, (int)n, &signer, 1);
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t create_pda(const Context *ctx, const Creation *c, uint64_t space) {
    Account *target = c->target;
    TRY(check_signer(c->payer));
    TRY(check_writable(c->payer));
    TRY(check_writable(target));
    TRY(check_system_program(c->system_program));
    if (!is_absent(target)) return ERR_ACCOUNT_DISCRIMINATOR_ALREADY_SET;
    uint64_t rent = (RENT_ACCOUNT_OVERHEAD + space) * RENT_LAMPORTS_PER_BYTE;
    uint8_t data[52];
    if (target->lamports == 0) {
        put_u32(data, 0); /* CreateAccount { lamports, space, owner } */
        put_u64(data + 4, rent);
        put_u64(data + 12, space);
        for (int i = 0; i < 32; i++) data[20 + i] = ctx->program_id->x[i];
        return system_call(c, true, data, 52);
    }
    /* Pre-funded address: top up, allocate, assign (each signed by the PDA). */
    if (target->lamports < rent) {
        put_u32(data, 2); /* Transfer { lamports } */
        put_u64(data + 4, rent - target->lamports);
        TRY(system_call(c, true, data, 12));
    }
    put_u32(data, 8); /* Allocate { space } */
    put_u64(data + 4, space);
    TRY(system_call(c, false, data, 12));
    put_u32(data, 1); /* Assign { owner } */
    for (int i = 0; i < 32; i++) data[4 + i] = ctx->program_id->x[i];
    return system_call(c, false, data, 36);
}

int64_t clock_now(void) {
    SolClock clock;
    sol_get_clock_sysvar(&clock);
    return clock.unix_timestamp;
}
