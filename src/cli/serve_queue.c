/* serve_queue.c: jobs in, batches out (serve_queue.h). */
#include "cli/serve_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef struct {
    serve_job *job;
    int i;
    size_t len;
} item;

static int by_len(const void *a, const void *b) {
    const item *x = a, *y = b;
    return x->len != y->len ? (x->len < y->len ? -1 : 1) : 0;
}

typedef struct {
    serve_queue *q;
    petit_translator *t;
} worker_arg;

/* translate the jobs taken (a list), in batches of sentences sorted by length */
static void run_jobs(serve_queue *q, petit_translator *t, serve_job *jobs) {
    int n = 0;
    for (serve_job *j = jobs; j; j = j->next) n += j->n;
    item *it = pt_malloc((size_t)(n ? n : 1) * sizeof(item));
    int k = 0;
    for (serve_job *j = jobs; j; j = j->next) {
        j->out = pt_calloc((size_t)(j->n ? j->n : 1), sizeof(char *));
        for (int i = 0; i < j->n; i++) it[k++] = (item){j, i, strlen(j->src[i])};
    }
    qsort(it, (size_t)n, sizeof(item), by_len); /* (the order of equal lengths does not matter) */
    const char **src = pt_malloc((size_t)q->batch * sizeof(char *));
    char **out = pt_malloc((size_t)q->batch * sizeof(char *));
    for (int b = 0; b < n; b += q->batch) {
        int m = n - b < q->batch ? n - b : q->batch;
        for (int i = 0; i < m; i++) src[i] = it[b + i].job->src[it[b + i].i];
        if (petit_translate(t, src, m, out)) {
            for (int i = 0; i < m; i++) {
                serve_job *j = it[b + i].job;
                j->failed = 1;
                snprintf(j->error, sizeof j->error, "%s", petit_last_error());
            }
            continue;
        }
        for (int i = 0; i < m; i++) it[b + i].job->out[it[b + i].i] = out[i];
    }
    free(src), free(out), free(it);
    pthread_mutex_lock(&q->mu);
    q->batches++;
    for (serve_job *j = jobs, *next; j; j = next) {
        next = j->next;
        if (j->failed) { /* no partial results */
            for (int i = 0; i < j->n; i++) free(j->out[i]);
            free(j->out);
            j->out = NULL;
        }
        q->jobs_done++, q->sentences_done += j->n;
        j->next = NULL;
        j->done = 1; /* j may be gone once the lock is released */
    }
    pthread_cond_broadcast(&q->done);
    pthread_mutex_unlock(&q->mu);
}

static void *worker(void *p) {
    worker_arg *a = p;
    serve_queue *q = a->q;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stopping) pthread_cond_wait(&q->work, &q->mu);
        if (!q->head) { /* stopping, and nothing left */
            pthread_mutex_unlock(&q->mu);
            break;
        }
        /* every job waiting, up to four batches of sentences (at least one job) */
        serve_job *first = q->head, *last = first;
        long n = first->n;
        while (last->next && n + last->next->n <= 4L * q->batch) last = last->next, n += last->n;
        q->head = last->next;
        if (!q->head) q->tail = NULL;
        last->next = NULL;
        q->queued -= n;
        pthread_mutex_unlock(&q->mu);
        run_jobs(q, a->t, first);
    }
    petit_translator_free(a->t);
    free(a);
    return NULL;
}

int serve_queue_start(serve_queue *q, const petit_model *pm, const petit_options *o, int n_workers, int batch,
                      long max_queued) {
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    q->pm = pm, q->opts = *o, q->batch = batch, q->max_queued = max_queued;
    q->threads = pt_calloc((size_t)n_workers, sizeof(pthread_t));
    for (int i = 0; i < n_workers; i++) {
        worker_arg *a = pt_malloc(sizeof *a);
        a->q = q;
        a->t = petit_translator_new(pm, o);
        if (!a->t || pthread_create(&q->threads[i], NULL, worker, a)) {
            if (a->t) petit_translator_free(a->t);
            free(a);
            pt_set_error("cannot start worker thread %d", i + 1);
            serve_queue_stop(q);
            serve_queue_free(q);
            return -1;
        }
        q->n_workers++;
    }
    return 0;
}

int serve_queue_submit(serve_queue *q, serve_job *j) {
    j->done = j->failed = 0, j->out = NULL, j->next = NULL;
    pthread_mutex_lock(&q->mu);
    int rc = q->stopping ? SERVE_STOPPING : q->queued + j->n > q->max_queued ? SERVE_FULL : SERVE_QUEUED;
    if (rc == SERVE_QUEUED) {
        if (q->tail) q->tail->next = j;
        else q->head = j;
        q->tail = j;
        q->queued += j->n;
        pthread_cond_signal(&q->work);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void serve_queue_wait(serve_queue *q, serve_job *j) {
    pthread_mutex_lock(&q->mu);
    while (!j->done) pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

void serve_queue_close(serve_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
}

void serve_queue_stop(serve_queue *q) {
    serve_queue_close(q);
    for (int i = 0; i < q->n_workers; i++) pthread_join(q->threads[i], NULL);
    free(q->threads);
    q->threads = NULL, q->n_workers = 0;
}

void serve_queue_free(serve_queue *q) {
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
}
