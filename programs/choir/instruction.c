/*
 * instruction.c: strict Borsh readers for every instruction's arguments (see instruction.h). `data` points
 * past the 8-byte discriminator.
 */
#include "instruction.h"

#include "state.h"

void reader_init(Reader *r, const uint8_t *data, uint64_t len) {
    r->p = data;
    r->left = len;
}

uint64_t read_bytes(Reader *r, uint64_t n, const uint8_t **out) {
    if (r->left < n) return ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return OK;
}

static uint64_t read_le(Reader *r, uint64_t n, uint64_t *out) {
    const uint8_t *p;
    TRY(read_bytes(r, n, &p));
    uint64_t v = 0;
    for (uint64_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    *out = v;
    return OK;
}

uint64_t read_u8(Reader *r, uint8_t *out) {
    const uint8_t *p;
    TRY(read_bytes(r, 1, &p));
    *out = *p;
    return OK;
}

uint64_t read_bool(Reader *r, bool *out) {
    uint8_t v;
    TRY(read_u8(r, &v));
    if (v > 1) return ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
    *out = v == 1;
    return OK;
}

uint64_t read_u32(Reader *r, uint32_t *out) {
    uint64_t v;
    TRY(read_le(r, 4, &v));
    *out = (uint32_t)v;
    return OK;
}

uint64_t read_u64(Reader *r, uint64_t *out) {
    return read_le(r, 8, out);
}

uint64_t read_i64(Reader *r, int64_t *out) {
    return read_le(r, 8, (uint64_t *)out);
}

uint64_t read_end(const Reader *r) {
    return r->left == 0 ? OK : ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF (what Rust's String accepts). */
bool utf8_valid(const uint8_t *s, uint64_t n) {
    uint64_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint64_t extra;
        uint32_t min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= extra) return false;
        for (uint64_t k = 1; k <= extra; k++) {
            uint8_t d = s[i + k];
            if ((d & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += extra + 1;
    }
    return true;
}

uint64_t parse_initialize(const uint8_t *data, uint64_t len, InitializeArgs *out) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_u64(&r, &out->total_supply));
    TRY(read_u64(&r, &out->min_stake));
    TRY(read_u64(&r, &out->min_thread_balance));
    TRY(read_i64(&r, &out->approval_window));
    TRY(read_i64(&r, &out->divest_cooldown));
    TRY(read_u64(&r, &out->max_pending));
    TRY(read_u8(&r, &out->max_coauthors));
    TRY(read_u8(&r, &out->thread_id_max));
    TRY(read_u8(&r, &out->decimals));
    TRY(read_u32(&r, &out->authority_count));
    if (out->authority_count > MAX_AUTHORITIES) return ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
    TRY(read_bytes(&r, 32ULL * out->authority_count, &out->authorities));
    TRY(read_u8(&r, &out->threshold));
    TRY(read_u8(&r, &out->config_bump));
    TRY(read_u8(&r, &out->treasury_bump));
    return read_end(&r);
}

uint64_t parse_bump(const uint8_t *data, uint64_t len, uint8_t *bump) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_u8(&r, bump));
    return read_end(&r);
}

uint64_t parse_amount(const uint8_t *data, uint64_t len, uint64_t *amount) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_u64(&r, amount));
    return read_end(&r);
}

uint64_t parse_create_thread(const uint8_t *data, uint64_t len, CreateThreadArgs *out) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_u32(&r, &out->thread_id_len));
    TRY(read_bytes(&r, out->thread_id_len, &out->thread_id));
    if (!utf8_valid(out->thread_id, out->thread_id_len)) return ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
    TRY(read_u64(&r, &out->deposit));
    TRY(read_u8(&r, &out->bump));
    return read_end(&r);
}

static uint64_t read_privacy(Reader *r, uint8_t *out) {
    TRY(read_u8(r, out));
    return *out < PRIVACY_COUNT ? OK : ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
}

uint64_t parse_submit_message(const uint8_t *data, uint64_t len, SubmitArgs *out) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_bytes(&r, 32, &out->content_hash));
    TRY(read_privacy(&r, &out->privacy));
    TRY(read_u8(&r, &out->bump));
    out->stake = 0;
    return read_end(&r);
}

uint64_t parse_submit_spec(const uint8_t *data, uint64_t len, SubmitArgs *out) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_bytes(&r, 32, &out->content_hash));
    TRY(read_u64(&r, &out->stake));
    TRY(read_privacy(&r, &out->privacy));
    TRY(read_u8(&r, &out->bump));
    return read_end(&r);
}

uint64_t parse_process_approval(const uint8_t *data, uint64_t len, bool *approve) {
    Reader r;
    reader_init(&r, data, len);
    TRY(read_bool(&r, approve));
    return read_end(&r);
}

uint64_t parse_empty(const uint8_t *data, uint64_t len) {
    (void)data;
    return len == 0 ? OK : ERR_INSTRUCTION_DID_NOT_DESERIALIZE;
}
