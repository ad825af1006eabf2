/* dim.c — arithmetic on symbolic dims (see dim.h). Terms are kept sorted by
 * their symbol tuple so that equal polynomials compare equal bytewise. */
#include "dim.h"

#include <stdio.h>
#include <string.h>

rg_dim rg_dim_const(int64_t value) {
    rg_dim d;
    memset(&d, 0, sizeof d);
    d.constant = value;
    return d;
}

rg_dim rg_dim_symbol(uint16_t sym) {
    rg_dim d = rg_dim_const(0);
    d.nterms = 1;
    d.term[0].coef = 1;
    d.term[0].sym[0] = sym;
    return d;
}

rg_dim rg_dim_unknown(void) {
    rg_dim d = rg_dim_const(0);
    d.unknown = true;
    return d;
}

bool rg_dim_is_const(const rg_dim *d, int64_t *value) {
    if (d->unknown || d->nterms) return false;
    if (value) *value = d->constant;
    return true;
}

/* Field by field: a term has padding bytes after its symbols, and struct
 * copies need not preserve them, so memcmp of terms would be wrong. */
bool rg_dim_equal(const rg_dim *a, const rg_dim *b) {
    if (a->unknown || b->unknown) return false;
    if (a->constant != b->constant || a->nterms != b->nterms) return false;
    for (int i = 0; i < a->nterms; i++)
        if (a->term[i].coef != b->term[i].coef || memcmp(a->term[i].sym, b->term[i].sym, sizeof a->term[i].sym))
            return false;
    return true;
}

static int term_key_cmp(const rg_dim_term *x, const rg_dim_term *y) {
    return memcmp(x->sym, y->sym, sizeof x->sym);
}

/* Adds coef*term into d, keeping order; false when out of room or overflow. */
static bool add_term(rg_dim *d, const rg_dim_term *t) {
    int i = 0;
    while (i < d->nterms && term_key_cmp(&d->term[i], t) < 0) i++;
    if (i < d->nterms && term_key_cmp(&d->term[i], t) == 0) {
        int64_t c;
        if (__builtin_add_overflow(d->term[i].coef, t->coef, &c)) return false;
        if (c == 0) {
            memmove(&d->term[i], &d->term[i + 1], sizeof d->term[0] * (size_t)(d->nterms - i - 1));
            d->nterms--;
            memset(&d->term[d->nterms], 0, sizeof d->term[0]);
        } else {
            d->term[i].coef = c;
        }
        return true;
    }
    if (d->nterms == RG_DIM_MAX_TERMS) return false;
    memmove(&d->term[i + 1], &d->term[i], sizeof d->term[0] * (size_t)(d->nterms - i));
    d->term[i] = *t;
    d->nterms++;
    return true;
}

static rg_dim combine(const rg_dim *a, const rg_dim *b, int64_t sign) {
    if (a->unknown || b->unknown) return rg_dim_unknown();
    rg_dim r = *a;
    int64_t bc;
    if (__builtin_mul_overflow(b->constant, sign, &bc) || __builtin_add_overflow(r.constant, bc, &r.constant))
        return rg_dim_unknown();
    for (int i = 0; i < b->nterms; i++) {
        rg_dim_term t = b->term[i];
        if (__builtin_mul_overflow(t.coef, sign, &t.coef) || !add_term(&r, &t)) return rg_dim_unknown();
    }
    return r;
}

rg_dim rg_dim_add(const rg_dim *a, const rg_dim *b) { return combine(a, b, 1); }
rg_dim rg_dim_sub(const rg_dim *a, const rg_dim *b) { return combine(a, b, -1); }

/* Multiplies two terms' symbol tuples; false if the degree exceeds the cap. */
static bool mul_syms(const uint16_t *x, const uint16_t *y, uint16_t *out) {
    uint16_t all[2 * RG_DIM_MAX_FACTORS];
    int n = 0;
    for (int i = 0; i < RG_DIM_MAX_FACTORS; i++) {
        if (x[i]) all[n++] = x[i];
        if (y[i]) all[n++] = y[i];
    }
    if (n > RG_DIM_MAX_FACTORS) return false;
    for (int i = 1; i < n; i++) /* insertion sort, n <= 3 */
        for (int j = i; j > 0 && all[j - 1] > all[j]; j--) {
            uint16_t t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    memset(out, 0, sizeof(uint16_t) * RG_DIM_MAX_FACTORS);
    memcpy(out, all, sizeof(uint16_t) * (size_t)n);
    return true;
}

rg_dim rg_dim_mul(const rg_dim *a, const rg_dim *b) {
    if (a->unknown || b->unknown) return rg_dim_unknown();
    rg_dim r = rg_dim_const(0);
    if (__builtin_mul_overflow(a->constant, b->constant, &r.constant)) return rg_dim_unknown();
    /* a.const * b.terms and b.const * a.terms */
    for (int pass = 0; pass < 2; pass++) {
        const rg_dim *s = pass ? b : a, *o = pass ? a : b;
        if (o->constant == 0) continue;
        for (int i = 0; i < s->nterms; i++) {
            rg_dim_term t = s->term[i];
            if (__builtin_mul_overflow(t.coef, o->constant, &t.coef) || !add_term(&r, &t)) return rg_dim_unknown();
        }
    }
    for (int i = 0; i < a->nterms; i++)
        for (int j = 0; j < b->nterms; j++) {
            rg_dim_term t;
            memset(&t, 0, sizeof t);
            if (__builtin_mul_overflow(a->term[i].coef, b->term[j].coef, &t.coef)) return rg_dim_unknown();
            if (!mul_syms(a->term[i].sym, b->term[j].sym, t.sym) || !add_term(&r, &t)) return rg_dim_unknown();
        }
    return r;
}

rg_dim rg_dim_div_const(const rg_dim *a, int64_t divisor) {
    if (a->unknown || divisor <= 0 || a->constant % divisor) return rg_dim_unknown();
    rg_dim r = *a;
    r.constant /= divisor;
    for (int i = 0; i < r.nterms; i++) {
        if (r.term[i].coef % divisor) return rg_dim_unknown();
        r.term[i].coef /= divisor;
    }
    return r;
}

bool rg_dim_eval(const rg_dim *d, const int64_t *values, size_t nvalues, int64_t *out) {
    if (d->unknown) return false;
    int64_t acc = d->constant;
    for (int i = 0; i < d->nterms; i++) {
        int64_t t = d->term[i].coef;
        for (int f = 0; f < RG_DIM_MAX_FACTORS && d->term[i].sym[f]; f++) {
            uint16_t s = d->term[i].sym[f];
            if (s >= nvalues || __builtin_mul_overflow(t, values[s], &t)) return false;
        }
        if (__builtin_add_overflow(acc, t, &acc)) return false;
    }
    *out = acc;
    return true;
}

int rg_dim_format(const rg_dim *d, const char *const *names, size_t nnames, char *buf, size_t cap) {
    if (d->unknown) return snprintf(buf, cap, "?");
    size_t len = 0;
    int total = 0;
#define EMIT(...)                                                              \
    do {                                                                       \
        int n_ = snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, __VA_ARGS__); \
        if (n_ > 0) { len += (size_t)n_; total += n_; }                        \
    } while (0)
    for (int i = 0; i < d->nterms; i++) {
        int64_t c = d->term[i].coef;
        if (i > 0) EMIT(c < 0 ? "-" : "+");
        else if (c < 0) EMIT("-");
        uint64_t mag = c < 0 ? 0 - (uint64_t)c : (uint64_t)c; /* INT64_MIN has no int64 magnitude */
        bool first = true;
        if (mag != 1) {
            EMIT("%llu", (unsigned long long)mag);
            first = false;
        }
        for (int f = 0; f < RG_DIM_MAX_FACTORS && d->term[i].sym[f]; f++) {
            uint16_t s = d->term[i].sym[f];
            const char *nm = (names && s < nnames && names[s]) ? names[s] : NULL;
            if (!first) EMIT("*");
            if (nm) EMIT("%s", nm);
            else EMIT("s%u", (unsigned)s);
            first = false;
        }
    }
    if (d->nterms == 0) EMIT("%lld", (long long)d->constant);
    else if (d->constant > 0) EMIT("+%lld", (long long)d->constant);
    else if (d->constant < 0) EMIT("-%llu", 0 - (unsigned long long)d->constant);
#undef EMIT
    if (cap && len >= cap) buf[cap - 1] = '\0';
    return total;
}
