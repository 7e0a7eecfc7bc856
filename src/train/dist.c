/* dist.c: the MPI calls of data-parallel training (see dist.h); one rank
 * and no-ops when built without MPI or started without a launcher. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "train/dist.h"

#ifdef PETIT_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_local = 1, g_on;
static pt_dist_stats g_stats;

/* the environment an MPI launcher gives its processes */
static const char *launcher_size(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    if (!v) v = getenv("PMIX_SIZE");
    if (!v && getenv("PMIX_RANK")) v = "?";
    return v;
}

int pt_dist_init(void) {
    const char *ls = launcher_size();
#ifdef PETIT_MPI
    if (!ls || g_on) return 0;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return pt_set_error("MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &g_local);
    MPI_Comm_free(&local);
    /* errors end the job with a message instead of a hang */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    g_on = 1;
    return 0;
#else
    if (ls && strcmp(ls, "1"))
        return pt_set_error("started by an MPI launcher (%s ranks), but this petit was built without MPI: "
                            "install an MPI (libopenmpi-dev) and rebuild", ls);
    return 0;
#endif
}

void pt_dist_finalize(void) {
#ifdef PETIT_MPI
    if (g_on) MPI_Finalize();
#endif
    g_on = 0, g_rank = 0, g_size = 1, g_local = 1;
}

int pt_dist_rank(void) { return g_rank; }
int pt_dist_size(void) { return g_size; }
int pt_dist_local_size(void) { return g_local; }

const char *pt_dist_backend(void) {
#ifdef PETIT_MPI
    static char buf[MPI_MAX_LIBRARY_VERSION_STRING];
    if (!buf[0]) {
        int n;
        MPI_Get_library_version(buf, &n);
        buf[strcspn(buf, ",\n")] = 0;
    }
    return buf;
#else
    return "none";
#endif
}

void pt_dist_sum_f32(float *x, size_t n) {
#ifdef PETIT_MPI
    if (g_size < 2) return;
    double t0 = pt_time();
    MPI_Barrier(MPI_COMM_WORLD); /* the slowest rank's lag, apart from the transfer */
    double t1 = pt_time();
    for (size_t i = 0; i < n; i += PT_DIST_BUCKET) {
        int c = (int)(n - i < PT_DIST_BUCKET ? n - i : PT_DIST_BUCKET);
        MPI_Allreduce(MPI_IN_PLACE, x + i, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    double t2 = pt_time();
    g_stats.wait_s += t1 - t0, g_stats.comm_s += t2 - t1, g_stats.bytes += (double)n * 4;
#else
    (void)x, (void)n;
#endif
}

void pt_dist_sum_f64(double *x, int n) {
#ifdef PETIT_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)x, (void)n;
#endif
}

int pt_dist_any(int flag) {
#ifdef PETIT_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
#endif
    return flag != 0;
}

int pt_dist_agree(const char *const *names, const uint64_t *vals, int n, char *bad, size_t badlen) {
    if (badlen) bad[0] = 0;
#ifdef PETIT_MPI
    if (g_size < 2 || n <= 0) return 0;
    uint64_t *lo = pt_malloc((size_t)n * 2 * sizeof *lo), *hi = lo + n;
    MPI_Allreduce(vals, lo, n, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(vals, hi, n, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    int diff = 0;
    for (int i = 0; i < n; i++) {
        if (lo[i] == hi[i]) continue;
        size_t u = strlen(bad);
        if (u + 1 < badlen) snprintf(bad + u, badlen - u, "%s%s", diff ? ", " : "", names[i]);
        diff++;
    }
    free(lo);
    return diff;
#else
    (void)names, (void)vals, (void)n;
    return 0;
#endif
}

void pt_dist_abort(int code) {
#ifdef PETIT_MPI
    if (g_on && g_size > 1) {
        fflush(stdout), fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    }
#endif
    (void)code;
}

void pt_dist_stats_get(pt_dist_stats *s) { *s = g_stats; }
void pt_dist_stats_reset(void) { memset(&g_stats, 0, sizeof g_stats); }
