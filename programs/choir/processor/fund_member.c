/*
 * fund_member: treasury -> a member's wallet, signed by `threshold` distinct treasury authorities (SPEC
 * section 3, `fund`: "Treasury tokens require multisig"). The recipient does not sign.
 *
 * Accounts: config, treasury (writable), member (writable), then any number of signer accounts; each config
 * authority among them that signed counts once. Args: amount.
 * Guards: Unauthorized, InvalidAmount, InsufficientFunds.
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_fund_member(Context *ctx) {
    TRY(need_accounts(ctx, 3));
    Config *config;
    Treasury *treasury;
    Account *member_acc = ctx->accounts[2];
    TRY(load_config(ctx, ctx->accounts[0], &config));
    TRY(load_treasury(ctx, ctx->accounts[1], &treasury));
    TRY(check_writable(member_acc));
    Member *member;
    TRY(load(ctx, member_acc, DISC_MEMBER, sizeof(Member), (void **)&member));
    uint64_t amount;
    TRY(parse_amount(ctx->data + 8, ctx->data_len - 8, &amount));

    uint64_t signed_count = 0;
    for (uint64_t j = 0; j < config->authority_count && j < MAX_AUTHORITIES; j++) {
        for (uint64_t i = 3; i < ctx->count; i++) {
            Account *a = ctx->accounts[i];
            if (a->is_signer && key_eq(&a->key, &config->authorities[j])) {
                signed_count++;
                break;
            }
        }
    }
    if (signed_count < config->threshold) return ERR_UNAUTHORIZED;
    if (amount == 0) return ERR_INVALID_AMOUNT;
    if (treasury->balance < amount) return ERR_INSUFFICIENT_FUNDS;

    uint64_t credited;
    ADD(credited, member->balance, amount);
    treasury->balance -= amount;
    member->balance = credited;
    return OK;
}
