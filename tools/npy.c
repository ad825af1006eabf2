/*
 * npy.c — the .npy format: a 6-byte magic "\x93NUMPY", a version, a header
 * length (2 bytes in 1.0, 4 bytes in 2.0/3.0), then a Python dict literal such
 * as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and a newline, then the raw data.
 *
 * The header is parsed by a small hand-written scanner that accepts exactly
 * the dict NumPy writes (keys in either quote style, any order, optional
 * trailing comma, whitespace anywhere) and refuses everything else with a
 * message naming the file and what was wrong. It never reads past the buffer.
 */
#include "npy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Descriptor table; the first spelling of a dtype is the one written. */
typedef struct npy_descr {
    const char *descr;
    rg_dtype dtype;
} npy_descr;

static const npy_descr npy_descrs[] = {
    {"<f4", RG_DTYPE_F32}, {"<f2", RG_DTYPE_F16}, {"<i8", RG_DTYPE_I64}, {"<i4", RG_DTYPE_I32},
    {"|i1", RG_DTYPE_I8},  {"|u1", RG_DTYPE_U8},  {"|b1", RG_DTYPE_BOOL}, {"<i1", RG_DTYPE_I8},
    {"<u1", RG_DTYPE_U8},  {"<b1", RG_DTYPE_BOOL}, {"=i1", RG_DTYPE_I8}, {"=u1", RG_DTYPE_U8},
    {"=b1", RG_DTYPE_BOOL}, {"|b", RG_DTYPE_BOOL},
};

const char *rg_npy_descr(rg_dtype dtype) {
    for (size_t i = 0; i < sizeof npy_descrs / sizeof npy_descrs[0]; i++)
        if (npy_descrs[i].dtype == dtype) return npy_descrs[i].descr;
    return NULL;
}

/* ------------------------------------------------------------ header scan */

typedef struct npy_scan {
    const char *p, *end;
    const char *name;
    rg_error *err;
} npy_scan;

#define NPY_DESCR_MAX 32

typedef struct npy_header {
    char descr[NPY_DESCR_MAX];
    bool have_descr, have_order, have_shape;
    bool fortran_order;
    int rank;
    int64_t dims[RG_MAX_RANK];
} npy_header;

static rg_status bad_header(npy_scan *s, const char *what) {
    return rg_error_set(s->err, RG_ERR_PARSE, "file '%s': malformed .npy header: %s", s->name, what);
}

static void skip_space(npy_scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static bool eat(npy_scan *s, char c) {
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A quoted string (single or double quotes, no escapes) into buf. */
static rg_status scan_string(npy_scan *s, char *buf, size_t cap) {
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"')) return bad_header(s, "expected a quoted string");
    char quote = *s->p++;
    size_t n = 0;
    while (s->p < s->end && *s->p != quote) {
        if (*s->p == '\\') return bad_header(s, "escapes in strings are not supported");
        if (n + 1 >= cap) return bad_header(s, "a string is too long");
        buf[n++] = *s->p++;
    }
    if (s->p >= s->end) return bad_header(s, "unterminated string");
    s->p++;
    buf[n] = '\0';
    return RG_OK;
}

static bool scan_word(npy_scan *s, const char *word) {
    skip_space(s);
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return false;
    s->p += n;
    return true;
}

static rg_status scan_bool(npy_scan *s, bool *out) {
    if (scan_word(s, "True")) *out = true;
    else if (scan_word(s, "False")) *out = false;
    else return bad_header(s, "'fortran_order' must be True or False");
    return RG_OK;
}

static rg_status scan_int(npy_scan *s, int64_t *out) {
    skip_space(s);
    if (s->p >= s->end || *s->p < '0' || *s->p > '9') return bad_header(s, "a shape entry is not a non-negative integer");
    int64_t v = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        int digit = *s->p++ - '0';
        if (v > (INT64_MAX - digit) / 10) return bad_header(s, "a shape entry is too large");
        v = v * 10 + digit;
    }
    if (s->p < s->end && *s->p == 'L') s->p++; /* Python 2 long literal, written by old NumPy */
    *out = v;
    return RG_OK;
}

/* A tuple of non-negative ints: "()", "(3,)", "(2, 3)", "(2, 3,)". */
static rg_status scan_shape(npy_scan *s, npy_header *h) {
    if (!eat(s, '(')) return bad_header(s, "'shape' must be a tuple");
    h->rank = 0;
    if (eat(s, ')')) return RG_OK;
    for (;;) {
        if (h->rank >= RG_MAX_RANK)
            return rg_error_set(s->err, RG_ERR_UNSUPPORTED, "file '%s': arrays of more than %d dimensions are not supported",
                                s->name, RG_MAX_RANK);
        RG_TRY(scan_int(s, &h->dims[h->rank]));
        h->rank++;
        if (eat(s, ')')) return RG_OK;
        if (!eat(s, ',')) return bad_header(s, "expected ',' or ')' in 'shape'");
        if (eat(s, ')')) return RG_OK;
    }
}

static rg_status scan_entry(npy_scan *s, npy_header *h) {
    char key[32];
    RG_TRY(scan_string(s, key, sizeof key));
    if (!eat(s, ':')) return bad_header(s, "expected ':' after a key");
    if (strcmp(key, "descr") == 0) {
        if (h->have_descr) return bad_header(s, "'descr' appears twice");
        skip_space(s);
        if (s->p < s->end && *s->p == '[')
            return rg_error_set(s->err, RG_ERR_UNSUPPORTED, "file '%s': structured arrays are not supported", s->name);
        RG_TRY(scan_string(s, h->descr, sizeof h->descr));
        h->have_descr = true;
    } else if (strcmp(key, "fortran_order") == 0) {
        if (h->have_order) return bad_header(s, "'fortran_order' appears twice");
        RG_TRY(scan_bool(s, &h->fortran_order));
        h->have_order = true;
    } else if (strcmp(key, "shape") == 0) {
        if (h->have_shape) return bad_header(s, "'shape' appears twice");
        RG_TRY(scan_shape(s, h));
        h->have_shape = true;
    } else {
        return bad_header(s, "unknown key (expected 'descr', 'fortran_order' and 'shape')");
    }
    return RG_OK;
}

static rg_status scan_header(npy_scan *s, npy_header *h) {
    if (!eat(s, '{')) return bad_header(s, "the header is not a dict");
    for (;;) {
        if (eat(s, '}')) break;
        RG_TRY(scan_entry(s, h));
        if (eat(s, '}')) break;
        if (!eat(s, ',')) return bad_header(s, "expected ',' or '}' after an entry");
    }
    skip_space(s);
    if (s->p != s->end) return bad_header(s, "text after the closing '}'");
    if (!h->have_descr || !h->have_order || !h->have_shape)
        return bad_header(s, "'descr', 'fortran_order' or 'shape' is missing");
    return RG_OK;
}

static rg_status descr_dtype(const char *descr, const char *name, rg_dtype *out, rg_error *err) {
    for (size_t i = 0; i < sizeof npy_descrs / sizeof npy_descrs[0]; i++) {
        if (strcmp(npy_descrs[i].descr, descr) == 0) {
            *out = npy_descrs[i].dtype;
            return RG_OK;
        }
    }
    if (descr[0] == '>')
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "file '%s': big-endian data ('%s') is not supported", name, descr);
    return rg_error_set(err, RG_ERR_UNSUPPORTED,
                        "file '%s': dtype '%s' is not supported (float32, float16, int64, int32, int8, uint8, bool)",
                        name, descr);
}

/* ----------------------------------------------------------------- reading */

static uint32_t load_le(const unsigned char *p, int n) {
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

rg_status rg_npy_parse(const void *bytes, size_t len, const char *name, const rg_allocator *alloc,
                       rg_tensor *out, rg_error *err) {
    const unsigned char *b = bytes;
    if (!name) name = "<memory>";
    if (!alloc) alloc = rg_allocator_default();
    if (!b && len) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "file '%s': no data", name);
    if (len < 10 || memcmp(b, npy_magic, sizeof npy_magic) != 0)
        return rg_error_set(err, RG_ERR_PARSE, "file '%s' is not an .npy file (bad magic)", name);
    int major = b[6];
    if (major < 1 || major > 3)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "file '%s': .npy format version %d.%d is not supported", name,
                            major, b[7]);
    size_t len_bytes = major == 1 ? 2 : 4;
    size_t prefix = 8 + len_bytes;
    if (len < prefix) return rg_error_set(err, RG_ERR_PARSE, "file '%s': truncated .npy header", name);
    size_t header_len = load_le(b + 8, (int)len_bytes);
    if (header_len > len - prefix)
        return rg_error_set(err, RG_ERR_PARSE, "file '%s': the .npy header length %zu runs past the end of the file",
                            name, header_len);
    for (size_t i = 0; i < header_len; i++)
        if (b[prefix + i] == 0 || (major < 3 && b[prefix + i] >= 0x80))
            return rg_error_set(err, RG_ERR_PARSE, "file '%s': malformed .npy header: unexpected byte 0x%02x", name,
                                b[prefix + i]);

    npy_header h = {0};
    npy_scan s = {(const char *)b + prefix, (const char *)b + prefix + header_len, name, err};
    RG_TRY(scan_header(&s, &h));
    if (h.fortran_order)
        return rg_error_set(err, RG_ERR_UNSUPPORTED,
                            "file '%s': Fortran-order arrays are not supported; save with np.ascontiguousarray", name);
    rg_dtype dtype;
    RG_TRY(descr_dtype(h.descr, name, &dtype, err));

    rg_tensor t = {0};
    if (rg_tensor_set_shape(&t, dtype, h.rank, h.dims, NULL) != RG_OK)
        return rg_error_set(err, RG_ERR_PARSE, "file '%s': the .npy shape is too large", name);
    size_t data_len = len - prefix - header_len;
    if (data_len != t.nbytes)
        return rg_error_set(err, RG_ERR_PARSE, "file '%s': %s data of %zu bytes expected, found %zu", name,
                            h.descr, t.nbytes, data_len);
    if (t.nbytes) {
        t.data = rg_mem_alloc(alloc, t.nbytes);
        if (!t.data)
            return rg_error_set(err, RG_ERR_NOMEM, "file '%s': out of memory for %zu bytes of data", name, t.nbytes);
        memcpy(t.data, b + prefix + header_len, t.nbytes);
    }
    if (dtype == RG_DTYPE_BOOL) {
        unsigned char *d = t.data;
        for (size_t i = 0; i < t.nbytes; i++) d[i] = d[i] != 0; /* a bool byte is 0 or 1 for every consumer */
    }
    *out = t;
    return RG_OK;
}

/* Reads a whole file into a buffer of *out_cap bytes from `alloc`. */
static rg_status read_file(const char *path, const rg_allocator *alloc, unsigned char **out, size_t *out_len,
                           size_t *out_cap, rg_error *err) {
    rg_status st = RG_OK;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rg_error_set(err, RG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap < cap) {
                st = rg_error_set(err, RG_ERR_NOMEM, "file '%s' is too large", path);
                goto fail;
            }
            unsigned char *nbuf = rg_mem_realloc(alloc, buf, cap, ncap);
            if (!nbuf) {
                st = rg_error_set(err, RG_ERR_NOMEM, "out of memory reading '%s'", path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        st = rg_error_set(err, RG_ERR_IO, "cannot read '%s'", path);
        goto fail;
    }
    fclose(f);
    *out = buf;
    *out_len = len;
    *out_cap = cap;
    return RG_OK;
fail:
    fclose(f);
    rg_mem_free(alloc, buf, cap);
    return st;
}

rg_status rg_npy_read(const char *path, const rg_allocator *alloc, rg_tensor *out, rg_error *err) {
    if (!path) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "no .npy path given");
    if (!alloc) alloc = rg_allocator_default();
    unsigned char *buf;
    size_t len, cap;
    RG_TRY(read_file(path, alloc, &buf, &len, &cap, err));
    rg_status st = rg_npy_parse(buf, len, path, alloc, out, err);
    rg_mem_free(alloc, buf, cap);
    return st;
}

void rg_npy_free(const rg_allocator *alloc, rg_tensor *t) {
    if (!t || !t->data) return;
    rg_mem_free(alloc ? alloc : rg_allocator_default(), t->data, t->nbytes);
    t->data = NULL;
}

/* ----------------------------------------------------------------- writing */

rg_status rg_npy_write(const char *path, const rg_tensor *t, rg_error *err) {
    if (!path || !t) return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "rg_npy_write needs a path and a tensor");
    const char *descr = rg_npy_descr(t->dtype);
    if (!descr)
        return rg_error_set(err, RG_ERR_UNSUPPORTED, "cannot write '%s': %s has no .npy dtype", path,
                            rg_dtype_name(t->dtype));
    rg_tensor check;
    if (rg_tensor_set_shape(&check, t->dtype, t->rank, t->dims, NULL) != RG_OK || check.nbytes != t->nbytes ||
        (t->nbytes && !t->data))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "cannot write '%s': the tensor's shape and size disagree",
                            path);

    char dict[64 + RG_MAX_RANK * 24];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->rank == 1 ? "," : "");
    RG_ASSERT(n > 0 && (size_t)n < sizeof dict);

    /* magic(6) + version(2) + length(2) + dict + padding + '\n', a multiple of 64 */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - 10;
    unsigned char head[10];
    memcpy(head, npy_magic, 6);
    head[6] = 1;
    head[7] = 0;
    head[8] = (unsigned char)(header_len & 0xff);
    head[9] = (unsigned char)(header_len >> 8);

    FILE *f = fopen(path, "wb");
    if (!f) return rg_error_set(err, RG_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    bool ok = fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = (size_t)n; ok && i + 1 < header_len; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && (t->nbytes == 0 || fwrite(t->data, 1, t->nbytes, f) == t->nbytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        remove(path);
        return rg_error_set(err, RG_ERR_IO, "cannot write '%s'", path);
    }
    return RG_OK;
}
