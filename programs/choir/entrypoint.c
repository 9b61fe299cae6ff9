/*
 * entrypoint.c: the program's entry and instruction dispatch (SPEC section 9).
 *
 * The runtime calls `entrypoint` with its serialized input; we build the zero-copy account table, read the
 * 8-byte Anchor discriminator and hand the context to that instruction's processor. The return value is 0 or an
 * error code (errors.h).
 */
#include "accounts.h"
#include "instruction.h"
#include "processor.h"

uint64_t entrypoint(const uint8_t *input) {
    Context ctx;
    TRY(deserialize(input, &ctx));
    if (ctx.data_len < 8) return ERR_INSTRUCTION_MISSING;
    uint64_t discriminator = *(const uint64_t *)ctx.data;
    switch (discriminator) {
    case IX_INITIALIZE:
        return process_initialize(&ctx);
    case IX_OPEN_MEMBER:
        return process_open_member(&ctx);
    case IX_FUND_MEMBER:
        return process_fund_member(&ctx);
    case IX_CREATE_THREAD:
        return process_create_thread(&ctx);
    case IX_SUBMIT_MESSAGE:
        return process_submit_message(&ctx);
    case IX_REQUEST_PUBLIC:
        return process_request_public(&ctx);
    case IX_SUBMIT_SPEC:
        return process_submit_spec(&ctx);
    case IX_PROCESS_APPROVAL:
        return process_process_approval(&ctx);
    case IX_EXPIRE_APPROVAL:
        return process_expire_approval(&ctx);
    case IX_DIVEST_TOKENS:
        return process_divest_tokens(&ctx);
    default:
        return ERR_INSTRUCTION_FALLBACK_NOT_FOUND;
    }
}
