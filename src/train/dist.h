/* dist: data-parallel training across processes with MPI.
 *
 * `mpirun -np N petit train ...` starts N ranks. Every rank builds the same
 * epoch and takes its shard of every batch (rows r, r+N, r+2N, ... of the
 * length-sorted batch); the gradients, losses and token counts are summed
 * with MPI_Allreduce, so every rank applies the same AdamW step to the same
 * weights. The global batch, the data order and the checkpoint do not depend
 * on N: a run resumes with any number of ranks.
 *
 * Built when the Makefile finds mpicc (PETIT_MPI). Without it, or when the
 * process was not started by an MPI launcher, there is one rank and every
 * call here is a no-op, so petit without MPI is unchanged.
 */
#ifndef PETIT_DIST_H
#define PETIT_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Joins the MPI job when started by an MPI launcher (OpenMPI, MPICH, PMIx
 * environment); an error when it was but petit was built without MPI. */
int pt_dist_init(void);
void pt_dist_finalize(void);
int pt_dist_rank(void);
int pt_dist_size(void);
int pt_dist_local_size(void); /* ranks on this machine (1 without MPI) */
const char *pt_dist_backend(void); /* "Open MPI v4.1.4, ..." or "none" */

/* In-place sums over all ranks. pt_dist_sum_f32 goes bucket by bucket
 * (PT_DIST_BUCKET floats): the time ranks wait for each other and the time
 * the reduction itself takes are counted separately (pt_dist_stats). */
#define PT_DIST_BUCKET (1 << 22)
void pt_dist_sum_f32(float *x, size_t n);
void pt_dist_sum_f64(double *x, int n);
/* 1 on every rank if flag is set on any */
int pt_dist_any(int flag);

/* Do all ranks hold the same n values? 0 if so; else the names of the
 * differing ones, comma separated, go into bad (every rank gets the same
 * answer). */
int pt_dist_agree(const char *const *names, const uint64_t *vals, int n, char *bad, size_t badlen);

/* Kill the whole job (a rank failed where the others may be waiting). */
void pt_dist_abort(int code);

typedef struct {
    double wait_s; /* waiting for the slowest rank before a reduction */
    double comm_s; /* in the reductions themselves */
    double bytes;  /* reduced */
} pt_dist_stats;
void pt_dist_stats_get(pt_dist_stats *s); /* since the last reset */
void pt_dist_stats_reset(void);

#endif
