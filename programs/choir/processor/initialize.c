/*
 * initialize: create the config (parameters, treasury multisig) and the treasury, which holds TOTAL_SUPPLY at
 * genesis (SPEC sections 1 and 2). Once only: the config PDA can be created once.
 *
 * Accounts: payer (writable, signer), config (writable, PDA ["config"]), treasury (writable, PDA
 * ["treasury"]), system_program, program (this program's account), program_data (its loader-v3 data account).
 * Args: params, authorities (1 to 3 distinct keys), threshold, config_bump, treasury_bump.
 *
 * Who may initialize: when the program is upgradeable (loader v3) and has an upgrade authority, only that
 * authority (as the payer), so nobody can front-run a deployment with their own treasury; an immutable program
 * (no authority, or another loader) can be initialized by its first caller, once.
 */
#include "../instruction.h"
#include "../processor.h"

#define ERR_REQUIRE_VIOLATED 2500ULL      /* Anchor's require!: parameters no ledger can honour */
#define ERR_REQUIRE_KEYS_EQ_VIOLATED 2502ULL /* the payer is not the upgrade authority */

static const SolPubkey LOADER_V3_ID = {{0x02, 0xa8, 0xf6, 0x91, 0x4e, 0x88, 0xa1, 0xb0, 0xe2, 0x10, 0x15,
                                        0x3e, 0xf7, 0x63, 0xae, 0x2b, 0x00, 0xc2, 0xb9, 0x3d, 0x16, 0xc1,
                                        0x24, 0xd2, 0xc0, 0x53, 0x7a, 0x10, 0x04, 0x80, 0x00, 0x00}};

/* Loader v3 state: Program { tag 2, programdata: Pubkey }, ProgramData { tag 3, slot: u64,
 * upgrade_authority: Option<Pubkey> }. */
static uint64_t check_upgrade_authority(const Context *ctx, const Account *program, const Account *program_data,
                                        const Account *payer) {
    if (!key_eq(&program->key, ctx->program_id)) return ERR_CONSTRAINT_ADDRESS;
    if (!key_eq(&program->owner, &LOADER_V3_ID)) return OK; /* immutable loaders: no authority exists */
    if (program->data_len < 36 || *(const uint32_t *)program->data != 2) return ERR_ACCOUNT_DID_NOT_DESERIALIZE;
    bool same = true;
    for (int i = 0; i < 32; i++) same &= program->data[4 + i] == program_data->key.x[i];
    if (!same || !key_eq(&program_data->owner, &LOADER_V3_ID)) return ERR_CONSTRAINT_ADDRESS;
    if (program_data->data_len < 45 || *(const uint32_t *)program_data->data != 3)
        return ERR_ACCOUNT_DID_NOT_DESERIALIZE;
    if (program_data->data[12] == 0) return OK; /* upgrade authority renounced: immutable */
    for (int i = 0; i < 32; i++) same &= program_data->data[13 + i] == payer->key.x[i];
    return same ? OK : ERR_REQUIRE_KEYS_EQ_VIOLATED;
}

static uint64_t validate(const InitializeArgs *a) {
    if (a->total_supply == 0) return ERR_REQUIRE_VIOLATED;
    if (a->min_stake == 0 || a->min_stake > a->total_supply) return ERR_REQUIRE_VIOLATED;
    if (a->min_thread_balance == 0 || a->min_thread_balance > a->total_supply) return ERR_REQUIRE_VIOLATED;
    if (a->approval_window < 0 || a->divest_cooldown < 0) return ERR_REQUIRE_VIOLATED;
    if (a->max_coauthors == 0 || a->max_coauthors > MAX_COAUTHORS_LAYOUT) return ERR_REQUIRE_VIOLATED;
    if (a->max_pending == 0) return ERR_REQUIRE_VIOLATED;
    if (a->thread_id_max == 0 || a->thread_id_max > THREAD_ID_LAYOUT) return ERR_REQUIRE_VIOLATED;
    if (a->authority_count == 0 || a->threshold == 0 || a->threshold > a->authority_count)
        return ERR_REQUIRE_VIOLATED;
    for (uint32_t i = 0; i < a->authority_count; i++) {
        for (uint32_t j = 0; j < i; j++) {
            bool same = true;
            for (int k = 0; k < 32; k++) same &= a->authorities[32 * i + k] == a->authorities[32 * j + k];
            if (same) return ERR_REQUIRE_VIOLATED;
        }
    }
    return OK;
}

uint64_t process_initialize(Context *ctx) {
    TRY(need_accounts(ctx, 6));
    Account *payer = ctx->accounts[0], *config_acc = ctx->accounts[1], *treasury_acc = ctx->accounts[2];
    Account *system = ctx->accounts[3];
    TRY(check_upgrade_authority(ctx, ctx->accounts[4], ctx->accounts[5], payer));
    InitializeArgs args;
    TRY(parse_initialize(ctx->data + 8, ctx->data_len - 8, &args));
    TRY(validate(&args));

    uint8_t config_bump = args.config_bump, treasury_bump = args.treasury_bump;
    SolSignerSeed config_seeds[2] = {{(const uint8_t *)SEED_CONFIG, sizeof(SEED_CONFIG) - 1}, {&config_bump, 1}};
    SolSignerSeed treasury_seeds[2] = {{(const uint8_t *)SEED_TREASURY, sizeof(SEED_TREASURY) - 1},
                                       {&treasury_bump, 1}};
    TRY(verify_pda(ctx, &config_acc->key, config_seeds, ARRAY_LEN(config_seeds), &config_bump));
    TRY(verify_pda(ctx, &treasury_acc->key, treasury_seeds, ARRAY_LEN(treasury_seeds), &treasury_bump));
    Creation config_acc_creation = {payer, config_acc, system, config_seeds, ARRAY_LEN(config_seeds)};
    TRY(create_pda(ctx, &config_acc_creation, sizeof(Config)));
    Creation treasury_acc_creation = {payer, treasury_acc, system, treasury_seeds, ARRAY_LEN(treasury_seeds)};
    TRY(create_pda(ctx, &treasury_acc_creation, sizeof(Treasury)));

    Config *config = (Config *)config_acc->data;
    config->discriminator = DISC_CONFIG;
    config->total_supply = args.total_supply;
    config->min_stake = args.min_stake;
    config->min_thread_balance = args.min_thread_balance;
    config->approval_window = args.approval_window;
    config->divest_cooldown = args.divest_cooldown;
    config->max_pending = args.max_pending;
    for (uint32_t i = 0; i < 32 * args.authority_count; i++) config->authorities[0].x[i] = args.authorities[i];
    config->authority_count = (uint8_t)args.authority_count;
    config->threshold = args.threshold;
    config->max_coauthors = args.max_coauthors;
    config->thread_id_max = args.thread_id_max;
    config->decimals = args.decimals;
    config->bump = config_bump;

    Treasury *treasury = (Treasury *)treasury_acc->data;
    treasury->discriminator = DISC_TREASURY;
    treasury->balance = args.total_supply;
    treasury->bump = treasury_bump;
    return OK;
}
