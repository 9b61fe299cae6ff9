/*
 * open_member: create a user's wallet (member) account with a zero balance. Anyone may open it (it only ever
 * receives tokens addressed to that user); a second open fails (create_pda refuses an existing account).
 *
 * Accounts: payer (writable, signer), user, member (writable, PDA ["member", user]), system_program.
 * Args: bump.
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_open_member(Context *ctx) {
    TRY(need_accounts(ctx, 4));
    Account *payer = ctx->accounts[0], *user = ctx->accounts[1], *member_acc = ctx->accounts[2];
    Account *system = ctx->accounts[3];
    uint8_t bump;
    TRY(parse_bump(ctx->data + 8, ctx->data_len - 8, &bump));
    SolSignerSeed seeds[3] = {
        {(const uint8_t *)SEED_MEMBER, sizeof(SEED_MEMBER) - 1}, {user->key.x, 32}, {&bump, 1}};
    TRY(verify_pda(ctx, &member_acc->key, seeds, ARRAY_LEN(seeds), &bump));
    Creation member_acc_creation = {payer, member_acc, system, seeds, ARRAY_LEN(seeds)};
    TRY(create_pda(ctx, &member_acc_creation, sizeof(Member)));
    Member *member = (Member *)member_acc->data;
    member->discriminator = DISC_MEMBER;
    member->balance = 0;
    key_copy(&member->owner, &user->key);
    member->bump = bump;
    return OK;
}
