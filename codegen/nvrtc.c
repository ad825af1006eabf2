/*
 * nvrtc.c — NVRTC through dlopen (see nvrtc.h).
 *
 * The CUDA headers give the types (nvrtcResult, nvrtcProgram); the functions
 * come from dlsym into the context, so the binary has no link-time dependency
 * on libnvrtc and runs where it is absent.
 */
#include "nvrtc.h"

#include <string.h>

#ifndef RG_CUDA_INCLUDE_DIR
#define RG_CUDA_INCLUDE_DIR ""
#endif
#ifndef RG_CUDA_LIB_DIR
#define RG_CUDA_LIB_DIR ""
#endif

const char *rg_cg_nvrtc_default_include_dir(void) { return RG_CUDA_INCLUDE_DIR; }

#ifndef RG_HAVE_CUDA_HEADERS

rg_status rg_cg_nvrtc_open(const rg_allocator *alloc, rg_cg_nvrtc **out, rg_error *err) {
    (void)alloc;
    (void)out;
    return rg_error_set(err, RG_ERR_DEVICE, "NVRTC unavailable: ragged was built without CUDA headers");
}

void rg_cg_nvrtc_close(rg_cg_nvrtc *nvrtc) { (void)nvrtc; }

void rg_cg_nvrtc_version(const rg_cg_nvrtc *nvrtc, int *major, int *minor) {
    (void)nvrtc;
    *major = *minor = 0;
}

rg_status rg_cg_nvrtc_compile(rg_cg_nvrtc *nvrtc, const char *source, const char *name, const char *arch,
                              const rg_cg_nvrtc_options *options, void **cubin, size_t *size, rg_error *err) {
    (void)nvrtc, (void)source, (void)arch, (void)options, (void)cubin, (void)size;
    return rg_error_set(err, RG_ERR_DEVICE, "cannot compile kernel '%s': ragged was built without CUDA headers",
                        name ? name : "?");
}

#else

#include <dlfcn.h>
#include <stdio.h>

#include <nvrtc.h>

typedef struct nvrtc_fns {
    const char *(*GetErrorString)(nvrtcResult);
    nvrtcResult (*Version)(int *, int *);
    nvrtcResult (*CreateProgram)(nvrtcProgram *, const char *, const char *, int, const char *const *,
                                 const char *const *);
    nvrtcResult (*DestroyProgram)(nvrtcProgram *);
    nvrtcResult (*CompileProgram)(nvrtcProgram, int, const char *const *);
    nvrtcResult (*GetCUBINSize)(nvrtcProgram, size_t *);
    nvrtcResult (*GetCUBIN)(nvrtcProgram, char *);
    nvrtcResult (*GetProgramLogSize)(nvrtcProgram, size_t *);
    nvrtcResult (*GetProgramLog)(nvrtcProgram, char *);
} nvrtc_fns;

struct rg_cg_nvrtc {
    const rg_allocator *alloc;
    void *library;
    int major, minor;
    nvrtc_fns fn;
};

/* Tries the versioned soname (what the CUDA 13 toolkit installs), the
 * toolkit's own folder (not always in the loader's path), then the bare name.
 * The first dlerror is the one reported: it names the library we want.
 * RTLD_NODELETE keeps NVRTC (and the libstdc++ it pulls in) mapped after
 * dlclose: reloading it per compile costs time, and libstdc++'s one-off
 * exception-handling pool would otherwise show up as a leak from an unmapped
 * module that no sanitizer suppression can name. */
#define NVRTC_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)

static void *open_library(const char *soname, const char *fallback, char *why, size_t why_size) {
    void *lib = dlopen(soname, NVRTC_DLOPEN_FLAGS);
    if (lib) return lib;
    const char *e = dlerror();
    snprintf(why, why_size, "%s", e ? e : soname);
    if (RG_CUDA_LIB_DIR[0]) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", RG_CUDA_LIB_DIR, soname);
        lib = dlopen(path, NVRTC_DLOPEN_FLAGS);
        if (lib) return lib;
    }
    return dlopen(fallback, NVRTC_DLOPEN_FLAGS);
}

static bool resolve(void *lib, const char *symbol, void **slot) {
    *slot = dlsym(lib, symbol);
    return *slot != NULL;
}

rg_status rg_cg_nvrtc_open(const rg_allocator *alloc, rg_cg_nvrtc **out, rg_error *err) {
    if (!alloc) alloc = rg_allocator_default();
    char why[256];
    void *lib = open_library("libnvrtc.so.13", "libnvrtc.so", why, sizeof why);
    if (!lib) return rg_error_set(err, RG_ERR_DEVICE, "NVRTC not found: %s", why);
    rg_cg_nvrtc *n = rg_mem_calloc(alloc, 1, sizeof *n);
    if (!n) {
        dlclose(lib);
        return rg_error_set(err, RG_ERR_NOMEM, "out of memory opening NVRTC");
    }
    n->alloc = alloc;
    n->library = lib;
    rg_status st = RG_OK;
    const struct {
        const char *symbol;
        void **slot;
    } table[] = {
        {"nvrtcGetErrorString", (void **)&n->fn.GetErrorString},
        {"nvrtcVersion", (void **)&n->fn.Version},
        {"nvrtcCreateProgram", (void **)&n->fn.CreateProgram},
        {"nvrtcDestroyProgram", (void **)&n->fn.DestroyProgram},
        {"nvrtcCompileProgram", (void **)&n->fn.CompileProgram},
        {"nvrtcGetCUBINSize", (void **)&n->fn.GetCUBINSize},
        {"nvrtcGetCUBIN", (void **)&n->fn.GetCUBIN},
        {"nvrtcGetProgramLogSize", (void **)&n->fn.GetProgramLogSize},
        {"nvrtcGetProgramLog", (void **)&n->fn.GetProgramLog},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!resolve(lib, table[i].symbol, table[i].slot)) {
            st = rg_error_set(err, RG_ERR_DEVICE, "NVRTC library lacks %s (CUDA 11.1 or newer is needed)",
                              table[i].symbol);
            goto fail;
        }
    }
    nvrtcResult r = n->fn.Version(&n->major, &n->minor);
    if (r != NVRTC_SUCCESS) {
        st = rg_error_set(err, RG_ERR_DEVICE, "nvrtcVersion failed: %s", n->fn.GetErrorString(r));
        goto fail;
    }
    *out = n;
    return RG_OK;
fail:
    dlclose(lib);
    rg_mem_free(alloc, n, sizeof *n);
    return st;
}

void rg_cg_nvrtc_close(rg_cg_nvrtc *nvrtc) {
    if (!nvrtc) return;
    dlclose(nvrtc->library);
    rg_mem_free(nvrtc->alloc, nvrtc, sizeof *nvrtc);
}

void rg_cg_nvrtc_version(const rg_cg_nvrtc *nvrtc, int *major, int *minor) {
    *major = nvrtc->major;
    *minor = nvrtc->minor;
}

/* "sm_" and 2 or 3 digits, optionally "a" or "f" (arch-specific features):
 * anything else would be pasted into an NVRTC option unchecked. */
static bool valid_arch(const char *arch) {
    if (!arch || strncmp(arch, "sm_", 3) != 0) return false;
    size_t digits = strspn(arch + 3, "0123456789");
    if (digits < 2 || digits > 3) return false;
    const char *rest = arch + 3 + digits;
    return rest[0] == '\0' || ((rest[0] == 'a' || rest[0] == 'f') && rest[1] == '\0');
}

static bool contains(const char *line, size_t len, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= len; i++)
        if (memcmp(line + i, word, w) == 0) return true;
    return false;
}

static bool is_diagnostic_line(const char *line, size_t len) {
    return contains(line, len, "error") || contains(line, len, "warning");
}

/* Squeezes the log's diagnostic lines ("x.cu(3): error: ...") into one line
 * separated by " | ", leaving out the echoed source and caret lines; when the
 * log has no such line, all non-empty lines are kept. */
static void summarize_log(const char *log, char *out, size_t out_size) {
    size_t used = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2 && used == 0; pass++) {
        const char *p = log;
        while (*p) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ')) len--;
            bool keep = len > 0 && (pass == 1 || is_diagnostic_line(p, len));
            if (keep && used + 4 < out_size) {
                if (used > 0) used += (size_t)snprintf(out + used, out_size - used, " | ");
                size_t room = out_size - used - 1;
                size_t n = len < room ? len : room;
                memcpy(out + used, p, n);
                used += n;
                out[used] = '\0';
            }
            p = end ? end + 1 : p + len;
            if (!end) break;
        }
    }
}

/* Reads the program log into the caller's buffer (if any) and a one-line
 * summary. Allocation failure leaves the summary empty: the status still
 * says the compile failed. */
static void read_log(rg_cg_nvrtc *n, nvrtcProgram prog, const rg_cg_nvrtc_options *options, char *summary,
                     size_t summary_size) {
    summary[0] = '\0';
    size_t log_size = 0;
    if (n->fn.GetProgramLogSize(prog, &log_size) != NVRTC_SUCCESS || log_size == 0) return;
    char *log = rg_mem_alloc(n->alloc, log_size + 1);
    if (!log) return;
    if (n->fn.GetProgramLog(prog, log) == NVRTC_SUCCESS) {
        log[log_size] = '\0';
        if (options && options->log && options->log_capacity > 0)
            snprintf(options->log, options->log_capacity, "%s", log);
        summarize_log(log, summary, summary_size);
    }
    rg_mem_free(n->alloc, log, log_size + 1);
}

#define MAX_FIXED_OPTIONS 2

rg_status rg_cg_nvrtc_compile(rg_cg_nvrtc *nvrtc, const char *source, const char *name, const char *arch,
                              const rg_cg_nvrtc_options *options, void **cubin, size_t *size, rg_error *err) {
    if (!source || !name || !name[0])
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "NVRTC compile needs a source and a kernel name");
    if (!valid_arch(arch))
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "kernel '%s': '%s' is not a GPU architecture like sm_90",
                            name, arch ? arch : "(null)");
    if (options && options->log && options->log_capacity > 0) options->log[0] = '\0';

    size_t extra = options ? options->extra_count : 0;
    size_t count;
    if (!rg_size_add(extra, MAX_FIXED_OPTIONS, &count) || count > 4096)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "kernel '%s': too many NVRTC options", name);
    const char *include_dir = options && options->include_dir ? options->include_dir : RG_CUDA_INCLUDE_DIR;
    char arch_option[32], include_option[600], program_name[300];
    snprintf(arch_option, sizeof arch_option, "-arch=%s", arch);
    int inc = snprintf(include_option, sizeof include_option, "-I%s", include_dir);
    if (inc < 0 || (size_t)inc >= sizeof include_option)
        return rg_error_set(err, RG_ERR_INVALID_ARGUMENT, "kernel '%s': include dir too long", name);
    snprintf(program_name, sizeof program_name, "%s.cu", name);

    rg_status st = RG_OK;
    nvrtcProgram prog = NULL;
    void *bin = NULL;
    size_t bin_size = 0;
    const char **argv = rg_mem_calloc(nvrtc->alloc, count, sizeof *argv);
    if (!argv) return rg_error_set(err, RG_ERR_NOMEM, "kernel '%s': out of memory for NVRTC options", name);
    int argc = 0;
    argv[argc++] = arch_option;
    if (include_dir[0]) argv[argc++] = include_option;
    for (size_t i = 0; i < extra; i++) argv[argc++] = options->extra[i];

    nvrtcResult r = nvrtc->fn.CreateProgram(&prog, source, program_name, 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) {
        st = rg_error_set(err, RG_ERR_DEVICE, "kernel '%s': nvrtcCreateProgram: %s", name,
                          nvrtc->fn.GetErrorString(r));
        goto fail;
    }
    r = nvrtc->fn.CompileProgram(prog, argc, argv);
    char summary[RG_ERROR_MESSAGE_MAX];
    read_log(nvrtc, prog, options, summary, sizeof summary);
    if (r != NVRTC_SUCCESS) {
        st = rg_error_set(err, RG_ERR_DEVICE, "NVRTC could not compile kernel '%s' for %s (%s): %s", name, arch,
                          nvrtc->fn.GetErrorString(r), summary[0] ? summary : "no log");
        goto fail;
    }
    r = nvrtc->fn.GetCUBINSize(prog, &bin_size);
    if (r != NVRTC_SUCCESS || bin_size == 0) {
        st = rg_error_set(err, RG_ERR_DEVICE, "kernel '%s': nvrtcGetCUBINSize for %s: %s", name, arch,
                          r != NVRTC_SUCCESS ? nvrtc->fn.GetErrorString(r) : "empty cubin");
        goto fail;
    }
    bin = rg_mem_alloc(nvrtc->alloc, bin_size);
    if (!bin) {
        st = rg_error_set(err, RG_ERR_NOMEM, "kernel '%s': out of memory for a %zu-byte cubin", name, bin_size);
        goto fail;
    }
    r = nvrtc->fn.GetCUBIN(prog, bin);
    if (r != NVRTC_SUCCESS) {
        st = rg_error_set(err, RG_ERR_DEVICE, "kernel '%s': nvrtcGetCUBIN: %s", name, nvrtc->fn.GetErrorString(r));
        goto fail;
    }
    nvrtc->fn.DestroyProgram(&prog);
    rg_mem_free(nvrtc->alloc, argv, count * sizeof *argv);
    *cubin = bin;
    *size = bin_size;
    return RG_OK;
fail:
    rg_mem_free(nvrtc->alloc, bin, bin_size);
    if (prog) nvrtc->fn.DestroyProgram(&prog);
    rg_mem_free(nvrtc->alloc, argv, count * sizeof *argv);
    return st;
}

#endif
