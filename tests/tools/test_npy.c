/* .npy reading and writing: NumPy-made fixtures, round trips of every dtype,
 * and malformed files (every truncation, byte flips, hand-broken headers),
 * which must fail with a message naming the file and never crash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/npy.h"

static char *data_path(const char *name) {
    const char *src = getenv("RG_SOURCE_DIR");
    cr_assert(src, "RG_SOURCE_DIR is not set");
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/tools/data/%s", src, name);
    return buf;
}

static void temp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/rg_test_npy_%ld_%s.npy", (long)getpid(), tag);
}

Test(npy, reads_numpy_fixtures) {
    rg_error err = {0};
    rg_tensor t;

    cr_assert_eq(rg_npy_read(data_path("f32_2x3.npy"), NULL, &t, &err), RG_OK, "%s", err.message);
    cr_assert_eq(t.dtype, RG_DTYPE_F32);
    cr_assert_eq(t.rank, 2);
    cr_assert_eq(t.dims[0], 2);
    cr_assert_eq(t.dims[1], 3);
    cr_assert_eq(t.nbytes, 24);
    cr_assert_float_eq(((float *)t.data)[5], 2.5f, 0);
    rg_npy_free(NULL, &t);

    cr_assert_eq(rg_npy_read(data_path("f16_2x2.npy"), NULL, &t, &err), RG_OK, "%s", err.message);
    cr_assert_eq(t.dtype, RG_DTYPE_F16);
    cr_assert_float_eq(rg_f16_to_f32(((uint16_t *)t.data)[3]), 65504.0f, 0);
    rg_npy_free(NULL, &t);

    cr_assert_eq(rg_npy_read(data_path("i64_4.npy"), NULL, &t, &err), RG_OK, "%s", err.message);
    cr_assert_eq(t.dtype, RG_DTYPE_I64);
    cr_assert_eq(t.rank, 1);
    cr_assert_eq(((int64_t *)t.data)[2], (int64_t)1 << 40);
    cr_assert_eq(((int64_t *)t.data)[1], -1);
    rg_npy_free(NULL, &t);

    cr_assert_eq(rg_npy_read(data_path("i32_3.npy"), NULL, &t, &err), RG_OK, "%s", err.message); /* v2.0 */
    cr_assert_eq(t.dtype, RG_DTYPE_I32);
    cr_assert_eq(((int32_t *)t.data)[1], -2);
    rg_npy_free(NULL, &t);

    cr_assert_eq(rg_npy_read(data_path("i8_2.npy"), NULL, &t, &err), RG_OK, "%s", err.message); /* v3.0 */
    cr_assert_eq(t.dtype, RG_DTYPE_I8);
    cr_assert_eq(((int8_t *)t.data)[0], -128);
    rg_npy_free(NULL, &t);

    cr_assert_eq(rg_npy_read(data_path("u8_0x3.npy"), NULL, &t, &err), RG_OK, "%s", err.message);
    cr_assert_eq(t.dtype, RG_DTYPE_U8);
    cr_assert_eq(t.rank, 2);
    cr_assert_eq(t.dims[0], 0);
    cr_assert_eq(t.nbytes, 0);
    cr_assert_null(t.data);

    cr_assert_eq(rg_npy_read(data_path("bool_scalar.npy"), NULL, &t, &err), RG_OK, "%s", err.message);
    cr_assert_eq(t.dtype, RG_DTYPE_BOOL);
    cr_assert_eq(t.rank, 0);
    cr_assert_eq(((uint8_t *)t.data)[0], 1);
    rg_npy_free(NULL, &t);
}

Test(npy, refuses_numpy_files_it_cannot_take) {
    const char *files[] = {"bad_fortran.npy", "bad_f8.npy", "bad_bigendian.npy"};
    const char *words[] = {"Fortran", "'<f8'", "big-endian"};
    for (size_t i = 0; i < 3; i++) {
        rg_error err = {0};
        rg_tensor t = {0};
        cr_assert_eq(rg_npy_read(data_path(files[i]), NULL, &t, &err), RG_ERR_UNSUPPORTED, "%s", files[i]);
        cr_assert(strstr(err.message, files[i]), "message names the file: %s", err.message);
        cr_assert(strstr(err.message, words[i]), "message says why: %s", err.message);
        cr_assert_null(t.data);
    }
}

Test(npy, missing_file_is_an_io_error) {
    rg_error err = {0};
    rg_tensor t;
    cr_assert_eq(rg_npy_read("/nonexistent/x.npy", NULL, &t, &err), RG_ERR_IO);
    cr_assert(strstr(err.message, "/nonexistent/x.npy"));
    cr_assert_eq(rg_npy_read("/tmp", NULL, &t, &err), RG_ERR_IO, "a directory: %s", err.message);
}

static void round_trip(rg_dtype dtype, int rank, const int64_t *dims) {
    rg_error err = {0};
    rg_tensor t = {0};
    cr_assert_eq(rg_tensor_set_shape(&t, dtype, rank, dims, &err), RG_OK);
    unsigned char *bytes = malloc(t.nbytes ? t.nbytes : 1);
    for (size_t i = 0; i < t.nbytes; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    if (dtype == RG_DTYPE_BOOL)
        for (size_t i = 0; i < t.nbytes; i++) bytes[i] &= 1;
    t.data = bytes;
    char path[256];
    temp_path(path, sizeof path, rg_dtype_name(dtype));
    cr_assert_eq(rg_npy_write(path, &t, &err), RG_OK, "%s", err.message);

    FILE *f = fopen(path, "rb");
    unsigned char head[12];
    cr_assert_eq(fread(head, 1, 10, f), 10);
    fclose(f);
    size_t header_len = head[8] | (size_t)head[9] << 8;
    cr_assert_eq((10 + header_len) % 64, 0, "header padded to 64 bytes");

    rg_tensor back;
    cr_assert_eq(rg_npy_read(path, NULL, &back, &err), RG_OK, "%s", err.message);
    cr_assert_eq(back.dtype, dtype);
    cr_assert_eq(back.rank, rank);
    for (int i = 0; i < rank; i++) cr_assert_eq(back.dims[i], dims[i]);
    cr_assert_eq(back.nbytes, t.nbytes);
    if (t.nbytes) cr_assert_eq(memcmp(back.data, bytes, t.nbytes), 0);
    rg_npy_free(NULL, &back);
    free(bytes);
    remove(path);
}

Test(npy, round_trips_every_dtype_and_rank) {
    const rg_dtype dtypes[] = {RG_DTYPE_F32, RG_DTYPE_F16, RG_DTYPE_I64, RG_DTYPE_I32,
                               RG_DTYPE_I8,  RG_DTYPE_U8,  RG_DTYPE_BOOL};
    const int64_t dims[RG_MAX_RANK] = {2, 3, 1, 4, 1, 1, 2, 1};
    const int64_t empty[2] = {3, 0};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        round_trip(dtypes[d], 0, dims);
        round_trip(dtypes[d], 1, dims);
        round_trip(dtypes[d], 3, dims);
        round_trip(dtypes[d], RG_MAX_RANK, dims);
        round_trip(dtypes[d], 2, empty);
    }
}

Test(npy, write_refuses_bf16_and_bad_paths) {
    rg_error err = {0};
    uint16_t x[2] = {0, 0};
    rg_tensor t = {RG_DTYPE_BF16, 1, {2}, x, 4};
    char path[256];
    temp_path(path, sizeof path, "bf16");
    cr_assert_eq(rg_npy_write(path, &t, &err), RG_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "bfloat16"));
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    rg_tensor f = {RG_DTYPE_F32, 1, {1}, x, 4};
    cr_assert_eq(rg_npy_write("/nonexistent/dir/x.npy", &f, &err), RG_ERR_IO);
    rg_tensor wrong = {RG_DTYPE_F32, 1, {2}, x, 4}; /* nbytes disagrees with the shape */
    cr_assert_eq(rg_npy_write(path, &wrong, &err), RG_ERR_INVALID_ARGUMENT);
}

/* An .npy image with the given header text (v1.0) and `data_len` zero bytes. */
static size_t make_image(unsigned char *buf, size_t cap, const char *header, size_t data_len) {
    size_t hlen = strlen(header);
    cr_assert(10 + hlen + data_len <= cap);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, header, hlen);
    memset(buf + 10 + hlen, 0, data_len);
    return 10 + hlen + data_len;
}

static rg_status parse_header(const char *header, size_t data_len, rg_error *err) {
    unsigned char buf[4096];
    size_t len = make_image(buf, sizeof buf, header, data_len);
    rg_tensor t = {0};
    rg_status st = rg_npy_parse(buf, len, "broken.npy", NULL, &t, err);
    if (st == RG_OK) rg_npy_free(NULL, &t);
    else cr_assert_null(t.data);
    return st;
}

Test(npy, accepts_header_variants) {
    rg_error err = {0};
    const char *ok[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}\n",
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
        "  {  'descr' : '<f4' ,'fortran_order':False,'shape':( 2 , 3 , ) }     \n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert_eq(parse_header(ok[i], 24, &err), RG_OK, "%s: %s", ok[i], err.message);
}

Test(npy, refuses_malformed_headers) {
    const char *bad[] = {
        "",
        "\n",
        "[]",
        "{",
        "{}",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (2, 3)}",
        "{'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk",
        "{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3.0)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f4\\'', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<U4', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '|O', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}",
        "{descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4)}", /* data size disagrees */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rg_error err = {0};
        rg_status st = parse_header(bad[i], 24, &err);
        cr_assert_neq(st, RG_OK, "accepted: %s", bad[i]);
        cr_assert(strstr(err.message, "broken.npy"), "message names the file: %s", err.message);
        cr_assert_null(strchr(err.message, '\n'), "one line: %s", err.message);
    }
}

Test(npy, refuses_bad_prefixes) {
    rg_error err = {0};
    rg_tensor t;
    unsigned char buf[256];
    size_t len = make_image(buf, sizeof buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }\n", 2);

    unsigned char copy[256];
    memcpy(copy, buf, len);
    copy[1] = 'X';
    cr_assert_eq(rg_npy_parse(copy, len, "m.npy", NULL, &t, &err), RG_ERR_PARSE);
    cr_assert(strstr(err.message, "bad magic"));

    memcpy(copy, buf, len);
    copy[6] = 4;
    cr_assert_eq(rg_npy_parse(copy, len, "m.npy", NULL, &t, &err), RG_ERR_UNSUPPORTED);
    copy[6] = 0;
    cr_assert_eq(rg_npy_parse(copy, len, "m.npy", NULL, &t, &err), RG_ERR_UNSUPPORTED);

    memcpy(copy, buf, len);
    copy[8] = 0xff;
    copy[9] = 0xff;
    cr_assert_eq(rg_npy_parse(copy, len, "m.npy", NULL, &t, &err), RG_ERR_PARSE);
    cr_assert(strstr(err.message, "past the end"));

    memcpy(copy, buf, len);
    copy[20] = '\0';
    cr_assert_eq(rg_npy_parse(copy, len, "m.npy", NULL, &t, &err), RG_ERR_PARSE);
    copy[20] = (char)0xc3; /* non-ASCII in a v1.0 header */
    cr_assert_eq(rg_npy_parse(copy, len, "m.npy", NULL, &t, &err), RG_ERR_PARSE);

    cr_assert_eq(rg_npy_parse(NULL, 0, "m.npy", NULL, &t, &err), RG_ERR_PARSE);
    cr_assert_eq(rg_npy_parse(buf, len + 1, "m.npy", NULL, &t, &err), RG_ERR_PARSE, "trailing byte");
}

/* Every prefix of a valid file is refused; no read runs past the buffer
 * (each prefix is copied into an exact-size heap block, so ASan would see it). */
Test(npy, every_truncation_fails_cleanly) {
    rg_error err = {0};
    unsigned char buf[256];
    size_t len = make_image(buf, sizeof buf, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }   \n", 12);
    rg_tensor t;
    cr_assert_eq(rg_npy_parse(buf, len, "t.npy", NULL, &t, &err), RG_OK, "%s", err.message);
    rg_npy_free(NULL, &t);
    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, buf, n);
        rg_tensor u = {0};
        cr_assert_neq(rg_npy_parse(cut, n, "t.npy", NULL, &u, &err), RG_OK, "prefix of %zu bytes accepted", n);
        cr_assert(strstr(err.message, "t.npy"));
        cr_assert_null(u.data);
        free(cut);
    }
}

/* Random byte flips and header-length changes: either a consistent tensor or
 * a clean error. */
Test(npy, random_corruptions_never_crash) {
    unsigned char buf[256];
    size_t len = make_image(buf, sizeof buf, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }  \n", 8);
    uint64_t state = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(state >> 33) % len;
            copy[pos] = (unsigned char)(state >> 17);
        }
        rg_error err = {0};
        rg_tensor t = {0};
        rg_status st = rg_npy_parse(copy, len, "fuzz.npy", NULL, &t, &err);
        if (st == RG_OK) {
            size_t numel;
            cr_assert(rg_shape_numel(t.rank, t.dims, &numel));
            cr_assert_eq(numel * rg_dtype_size(t.dtype), t.nbytes);
            rg_npy_free(NULL, &t);
        } else {
            cr_assert(strstr(err.message, "fuzz.npy"), "%s", err.message);
            cr_assert_null(t.data);
        }
        free(copy);
    }
}
