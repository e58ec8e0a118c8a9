/* fixture.c - HDF5 fixture reader for the tests (fixture.h). */
#include "helpers/fixture.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rnnc_fixture {
    hid_t file;
    char *path;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

rnnc_status rnnc_fixture_open(const char *path, rnnc_fixture **out)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages, not HDF5's stack dumps */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return rnnc_fail(RNNC_E_IO, "fixture: cannot open HDF5 file '%s'", path);
    rnnc_fixture *fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->path = dup_str(path))) {
        free(fx);
        H5Fclose(f);
        return rnnc_fail(RNNC_E_NOMEM, "fixture: out of memory");
    }
    fx->file = f;
    *out = fx;
    return RNNC_OK;
}

void rnnc_fixture_close(rnnc_fixture *f)
{
    if (!f)
        return;
    H5Fclose(f->file);
    free(f->path);
    free(f);
}

bool rnnc_fixture_has(const rnnc_fixture *f, const char *name)
{
    return H5Lexists(f->file, name, H5P_DEFAULT) > 0;
}

bool rnnc_fixture_has_attr(const rnnc_fixture *f, const char *name)
{
    return H5Aexists(f->file, name) > 0;
}

static hid_t mem_type(rnnc_dtype dt)
{
    switch (dt) {
    case RNNC_F32: return H5T_NATIVE_FLOAT;
    case RNNC_F64: return H5T_NATIVE_DOUBLE;
    case RNNC_I32: return H5T_NATIVE_INT32;
    case RNNC_I64: return H5T_NATIVE_INT64;
    case RNNC_U8: return H5T_NATIVE_UINT8;
    default: return -1;
    }
}

rnnc_status rnnc_fixture_read(const rnnc_fixture *f, const char *name, rnnc_dtype dtype,
                              rnnc_tensor **out)
{
    *out = NULL;
    hid_t mt = mem_type(dtype);
    if (mt < 0)
        return rnnc_fail(RNNC_E_DTYPE, "fixture %s: cannot read into %s", f->path,
                         rnnc_dtype_name(dtype));
    hid_t ds = H5Dopen2(f->file, name, H5P_DEFAULT);
    if (ds < 0)
        return rnnc_fail(RNNC_E_IO, "fixture %s: no dataset '%s'", f->path, name);
    hid_t sp = H5Dget_space(ds);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    rnnc_status s = RNNC_OK;
    if (nd < 0 || nd > RNNC_MAX_DIMS) {
        s = rnnc_fail(RNNC_E_FORMAT, "fixture %s: dataset '%s' has an unusable rank %d", f->path,
                      name, nd);
        goto done;
    }
    hsize_t dims[RNNC_MAX_DIMS];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    int64_t d64[RNNC_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        d64[i] = (int64_t)dims[i];
    rnnc_shape shape = rnnc_shape_of(d64, nd);
    if ((s = rnnc_tensor_create(dtype, &shape, out)))
        goto done;
    if ((*out)->numel > 0 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, (*out)->data) < 0) {
        rnnc_tensor_destroy(*out);
        *out = NULL;
        s = rnnc_fail(RNNC_E_IO, "fixture %s: reading dataset '%s' as %s failed", f->path, name,
                      rnnc_dtype_name(dtype));
    }
done:
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(ds);
    return s;
}

rnnc_status rnnc_fixture_attr_string(const rnnc_fixture *f, const char *name, char **out)
{
    *out = NULL;
    hid_t a = H5Aopen(f->file, name, H5P_DEFAULT);
    if (a < 0)
        return rnnc_fail(RNNC_E_IO, "fixture %s: no attribute '%s'", f->path, name);
    hid_t ft = H5Aget_type(a);
    rnnc_status s = RNNC_OK;
    if (H5Tget_class(ft) != H5T_STRING) {
        s = rnnc_fail(RNNC_E_FORMAT, "fixture %s: attribute '%s' is not a string", f->path, name);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0 || !v)
            s = rnnc_fail(RNNC_E_IO, "fixture %s: reading attribute '%s' failed", f->path, name);
        else if (!(*out = dup_str(v)))
            s = rnnc_fail(RNNC_E_NOMEM, "fixture: out of memory");
        if (v) {
            hid_t sp = H5Aget_space(a);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, &v);
            H5Sclose(sp);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *v = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        if (!v)
            s = rnnc_fail(RNNC_E_NOMEM, "fixture: out of memory");
        else if (H5Aread(a, mt, v) < 0)
            s = rnnc_fail(RNNC_E_IO, "fixture %s: reading attribute '%s' failed", f->path, name);
        H5Tclose(mt);
        if (s)
            free(v);
        else
            *out = v;
    }
    H5Tclose(ft);
    H5Aclose(a);
    return s;
}

rnnc_status rnnc_fixture_attr_int(const rnnc_fixture *f, const char *name, int64_t *out)
{
    hid_t a = H5Aopen(f->file, name, H5P_DEFAULT);
    if (a < 0)
        return rnnc_fail(RNNC_E_IO, "fixture %s: no attribute '%s'", f->path, name);
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    rnnc_status s = RNNC_OK;
    if (n != 1 || H5Aread(a, H5T_NATIVE_INT64, out) < 0)
        s = rnnc_fail(RNNC_E_FORMAT, "fixture %s: attribute '%s' is not one integer", f->path,
                      name);
    H5Sclose(sp);
    H5Aclose(a);
    return s;
}

/* ---- random tensors ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

rnnc_status rnnc_fixture_uniform(rnnc_dtype dtype, const rnnc_shape *shape, uint64_t seed,
                                 double lo, double hi, rnnc_tensor **out)
{
    RNNC_TRY(rnnc_tensor_create(dtype, shape, out));
    uint64_t st = seed * 0x2545F4914F6CDD1Dull + 1;
    for (size_t i = 0; i < (*out)->numel; i++) {
        double u = (double)(splitmix64(&st) >> 11) * (1.0 / 9007199254740992.0);
        rnnc_tensor_set(*out, i, lo + (hi - lo) * u);
    }
    return RNNC_OK;
}

static double err_of(double a, double b)
{
    if (!isfinite(a))
        return INFINITY;
    double d = fabs(a - b), s = fabs(b) > 1.0 ? fabs(b) : 1.0;
    return d / s;
}

double rnnc_fixture_max_err(const rnnc_tensor *a, const rnnc_tensor *b)
{
    if (!a || !b || a->numel != b->numel)
        return INFINITY;
    double m = 0.0;
    for (size_t i = 0; i < a->numel; i++) {
        double e = err_of(rnnc_tensor_get(a, i), rnnc_tensor_get(b, i));
        if (!(e <= m))
            m = e;
    }
    return m;
}

double rnnc_fixture_max_grad_err(const rnnc_tensor *a, const rnnc_tensor *b)
{
    if (!a || !b || a->numel != b->numel)
        return INFINITY;
    double m = 0.0;
    for (size_t i = 0; i < a->numel; i++) {
        double e = err_of(rnnc_tensor_get_grad(a, i), rnnc_tensor_get(b, i));
        if (!(e <= m))
            m = e;
    }
    return m;
}

double *rnnc_fixture_doubles(const rnnc_tensor *t)
{
    double *d = malloc((t->numel ? t->numel : 1) * sizeof *d);
    for (size_t i = 0; d && i < t->numel; i++)
        d[i] = rnnc_tensor_get(t, i);
    return d;
}

/* ---- reference GRU ------------------------------------------------------- */

static bool ref_act(const char *name, double x, double *y)
{
    if (!strcmp(name, "tanh"))
        *y = tanh(x);
    else if (!strcmp(name, "sigmoid"))
        *y = 1.0 / (1.0 + exp(-x));
    else if (!strcmp(name, "linear"))
        *y = x;
    else if (!strcmp(name, "relu"))
        *y = x > 0.0 ? x : 0.0;
    else if (!strcmp(name, "hard_sigmoid")) /* Keras 3: clip(x/6 + 1/2, 0, 1) */
        *y = x <= -3.0 ? 0.0 : (x >= 3.0 ? 1.0 : x / 6.0 + 0.5);
    else if (!strcmp(name, "softsign"))
        *y = x / (1.0 + fabs(x));
    else
        return false;
    return true;
}

bool rnnc_ref_gru(const rnnc_ref_gru_args *a, double *Y, double *last, double *hT)
{
    const int64_t B = a->B, T = a->T, F = a->F, U = a->U;
    double *h = calloc((size_t)(B * U), sizeof *h), *y = calloc((size_t)(B * U), sizeof *y);
    double *hn = calloc((size_t)U, sizeof *hn);
    bool ok = h && y && hn;
    if (ok && a->h0)
        memcpy(h, a->h0, (size_t)(B * U) * sizeof *h);
    for (int64_t k = 0; ok && k < T; k++) {
        const int64_t t = a->go_backwards ? T - 1 - k : k;
        for (int64_t b = 0; ok && b < B; b++) {
            const double *x = a->x + (b * T + t) * F, *hp = h + b * U;
            for (int64_t u = 0; ok && u < U; u++) {
                /* Per gate g: input and recurrent products with that gate's masks. */
                double xg[3];
                for (int g = 0; g < 3; g++) {
                    double s = 0.0;
                    for (int64_t f = 0; f < F; f++) {
                        double xv = x[f] * (a->in_mask[g] ? a->in_mask[g][b * F + f] : 1.0);
                        s += xv * a->W[f * 3 * U + g * U + u];
                    }
                    if (a->bias)
                        s += a->bias[g * U + u]; /* row 0, or the (3U,) bias */
                    xg[g] = s;
                }
                double rz = 0.0, rr = 0.0, rh = 0.0;
                double r;
                for (int64_t j = 0; j < U; j++) {
                    double hz = hp[j] * (a->rec_mask[0] ? a->rec_mask[0][b * U + j] : 1.0);
                    double hr = hp[j] * (a->rec_mask[1] ? a->rec_mask[1][b * U + j] : 1.0);
                    rz += hz * a->R[j * 3 * U + u];
                    rr += hr * a->R[j * 3 * U + U + u];
                }
                if (a->reset_after && a->bias) {
                    rz += a->bias[3 * U + u];
                    rr += a->bias[3 * U + U + u];
                }
                double z;
                ok = ref_act(a->ract, xg[0] + rz, &z) && ref_act(a->ract, xg[1] + rr, &r);
                if (!ok)
                    break;
                if (a->reset_after) {
                    /* h~ = act(xh + r * ((h*Nh) @ R_h + br_h)) */
                    for (int64_t j = 0; j < U; j++)
                        rh += hp[j] * (a->rec_mask[2] ? a->rec_mask[2][b * U + j] : 1.0) *
                              a->R[j * 3 * U + 2 * U + u];
                    if (a->bias)
                        rh += a->bias[3 * U + 2 * U + u];
                    rh *= r;
                } else {
                    /* h~ = act(xh + (r * (h*Nh)) @ R_h): needs r of every unit j */
                    for (int64_t j = 0; j < U; j++) {
                        double xr = 0.0, rrj = 0.0, rj;
                        for (int64_t f = 0; f < F; f++)
                            xr += x[f] * (a->in_mask[1] ? a->in_mask[1][b * F + f] : 1.0) *
                                  a->W[f * 3 * U + U + j];
                        if (a->bias)
                            xr += a->bias[U + j];
                        for (int64_t i = 0; i < U; i++)
                            rrj += hp[i] * (a->rec_mask[1] ? a->rec_mask[1][b * U + i] : 1.0) *
                                   a->R[i * 3 * U + U + j];
                        ok = ref_act(a->ract, xr + rrj, &rj);
                        rh += rj * hp[j] * (a->rec_mask[2] ? a->rec_mask[2][b * U + j] : 1.0) *
                              a->R[j * 3 * U + 2 * U + u];
                    }
                }
                double hh;
                ok = ok && ref_act(a->act, xg[2] + rh, &hh);
                hn[u] = z * hp[u] + (1.0 - z) * hh; /* the undropped h */
            }
            if (!ok)
                break;
            const bool keep = !a->mask || a->mask[b * T + t];
            for (int64_t u = 0; u < U; u++) {
                double yv;
                if (keep) {
                    yv = hn[u];
                    h[b * U + u] = hn[u];
                } else {
                    yv = a->zero_output_for_mask ? 0.0 : y[b * U + u]; /* previous output, 0 first */
                }
                y[b * U + u] = yv;
                if (Y)
                    Y[(b * T + k) * U + u] = yv;
            }
        }
    }
    if (ok) {
        memcpy(last, y, (size_t)(B * U) * sizeof *y);
        memcpy(hT, h, (size_t)(B * U) * sizeof *h);
    }
    free(h);
    free(y);
    free(hn);
    return ok;
}
