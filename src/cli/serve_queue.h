/* serve_queue.h: the work queue of `petit serve`. Request threads submit
 * jobs (a request's sentences) and wait; worker threads (one translator
 * each, all over one shared model) take every job waiting, up to a batch,
 * sort their sentences by length and translate them together, so that
 * concurrent requests share decoder batches. The queue is bounded in
 * sentences: a job that does not fit is refused at once (HTTP 429), not
 * queued. serve_queue_stop refuses new jobs, finishes the queued ones and
 * joins the workers.
 *
 *     serve_queue q;
 *     serve_queue_start(&q, model, &opts, 1, 32, 1024);
 *     serve_job j = {.src = pieces, .n = n};
 *     if (serve_queue_submit(&q, &j) == SERVE_QUEUED) serve_queue_wait(&q, &j);  // j.out[i]
 *     serve_queue_stop(&q);   // then serve_queue_free(&q) once no thread submits
 */
#ifndef PETIT_CLI_SERVE_QUEUE_H
#define PETIT_CLI_SERVE_QUEUE_H
#include <pthread.h>

#include "petit.h"

typedef struct serve_job {
    char *const *src; /* n sentences (the caller's) */
    int n;
    char **out;       /* after serve_queue_wait: n malloc'd translations (the caller frees), or NULL */
    int done, failed;
    char error[256];  /* when failed */
    struct serve_job *next;
} serve_job;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    serve_job *head, *tail;
    long queued, max_queued; /* sentences waiting, and their bound */
    int stopping, batch, n_workers;
    pthread_t *threads;
    const petit_model *pm;
    petit_options opts;
    long jobs_done, sentences_done, batches; /* statistics */
} serve_queue;

enum { SERVE_QUEUED = 0, SERVE_FULL = 1, SERVE_STOPPING = 2 };

/* starts n_workers threads; batch: sentences per decode. 0, or -1 with pt_error */
int serve_queue_start(serve_queue *q, const petit_model *pm, const petit_options *o, int n_workers, int batch,
                      long max_queued);
/* SERVE_QUEUED, SERVE_FULL (more than max_queued sentences would wait), SERVE_STOPPING */
int serve_queue_submit(serve_queue *q, serve_job *j);
void serve_queue_wait(serve_queue *q, serve_job *j);
/* refuse new jobs from now on (SERVE_STOPPING) */
void serve_queue_close(serve_queue *q);
/* close, finish what is queued, join the workers; submit still answers
 * SERVE_STOPPING after it, until serve_queue_free */
void serve_queue_stop(serve_queue *q);
void serve_queue_free(serve_queue *q);
#endif
