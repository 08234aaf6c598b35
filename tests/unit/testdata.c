/*
 * testdata: synthetic datasets and model snapshots for the unit tests (see
 * testdata.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db/db.h"
#include "engine/data.h"
#include "engine/io_h5.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/testdata.h"

/*
 * n examples of `classes` Gaussian blobs in (1, side, side): each class has a
 * fixed random centre (the same for every call), examples add noise drawn
 * from `seed`. Freed with free_blobs().
 */
struct dataset *
blobs(int n, int classes, int side, double noise, uint64_t seed)
{
	struct dataset *d = xcalloc(1, sizeof *d);
	size_t chw = (size_t)side * side;
	d->source = xasprintf("blobs:%llu", (unsigned long long)seed);
	d->n = n;
	d->c = 1;
	d->h = d->w = side;
	d->classes = classes;
	d->x = xalloc_floats((size_t)n * chw);
	d->y = xmalloc((size_t)n * sizeof *d->y);
	float *centre = xmalloc((size_t)classes * chw * sizeof *centre);
	struct rng r;
	rng_seed(&r, 777);
	for (size_t i = 0; i < (size_t)classes * chw; i++)
		centre[i] = rng_uniform(&r);
	rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		int k = (int)rng_below(&r, (uint32_t)classes);
		d->y[i] = k;
		for (size_t j = 0; j < chw; j++)
			d->x[(size_t)i * chw + j] =
				centre[(size_t)k * chw + j] + (float)(noise * rng_normal(&r));
	}
	free(centre);
	return d;
}

void
free_blobs(struct dataset *d)
{
	free(d->source);
	xfree_aligned(d->x);
	free(d->y);
	free(d);
}

/* Every stored tensor of m, concatenated (caller frees). */
float *
snapshot(const struct model *m, size_t *n_out)
{
	size_t n = 0;
	for (int i = 0; i < model_tensor_count(m); i++)
		n += model_tensor_at(m, i)->size;
	float *s = xmalloc(n * sizeof *s), *p = s;
	for (int i = 0; i < model_tensor_count(m); i++) {
		const struct model_tensor *t = model_tensor_at(m, i);
		memcpy(p, t->data, t->size * sizeof *p);
		p += t->size;
	}
	*n_out = n;
	return s;
}


const struct io_h5_group *
testdata_quant_group(const struct io_h5_groups *gs, const char *group)
{
	char p[64];
	snprintf(p, sizeof p, "quant/%s", group);
	return io_h5_groups_find(gs, p);
}

double
testdata_attr_num(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, name) : NULL;
	return a && !a->str ? a->num : NAN;
}

const char *
testdata_attr_str(const struct io_h5_group *g, const char *name)
{
	const struct io_h5_attr *a = g ? io_h5_group_attr(g, name) : NULL;
	return a && a->str ? a->str : "";
}

int
testdata_runs_db(struct db *big, int n, char **cause)
{
	static const char *const schemes[] = {"apot", "uniform", "pot", "lcq"};
	static const char *const clips[] = {"mse", "max", "pct:99.99", "aciq"};
	sqlite3 *s = db_sqlite(big);
	sqlite3_stmt *run = NULL, *param = NULL, *result = NULL;
	int ok = db_begin(big, cause) == 0;
	ok = ok && sqlite3_prepare_v2(s, "INSERT INTO runs (id, key, config, status) VALUES "
					 "(?1, ?2, '{}', ?3)",
				      -1, &run, NULL) == SQLITE_OK;
	ok = ok && sqlite3_prepare_v2(s, "INSERT INTO params (run_id, key, value) VALUES "
					 "(?1, ?2, ?3)",
				      -1, &param, NULL) == SQLITE_OK;
	ok = ok && sqlite3_prepare_v2(s, "INSERT INTO results (run_id, name, value) VALUES "
					 "(?1, ?2, ?3)",
				      -1, &result, NULL) == SQLITE_OK;
	for (int i = 1; ok && i <= n; i++) {
		char key[32], bits[8], seed[8];
		const char *pk[] = {"job", "model", "scheme", "w.bits", "clip", "seed"};
		const char *pv[] = {"ptq", "run:1", schemes[i % 4], bits, clips[(i / 4) % 4], seed};
		const char *rk[] = {"test_acc", "bitops", "time_s"};
		double rv[] = {0.5 + (i % 997) / 2000.0, 1e5 * (i % 7 + 1), 0.1 * (i % 50)};
		snprintf(key, sizeof key, "%016d", i);
		snprintf(bits, sizeof bits, "%d", 2 + (i / 16) % 7);
		snprintf(seed, sizeof seed, "%d", 1 + (i / 112) % 5);
		sqlite3_bind_int(run, 1, i);
		sqlite3_bind_text(run, 2, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(run, 3, i % 10 ? "done" : "failed", -1, SQLITE_STATIC);
		ok = sqlite3_step(run) == SQLITE_DONE;
		sqlite3_reset(run);
		for (int k = 0; ok && k < 6; k++) {
			sqlite3_bind_int(param, 1, i);
			sqlite3_bind_text(param, 2, pk[k], -1, SQLITE_STATIC);
			sqlite3_bind_text(param, 3, pv[k], -1, SQLITE_TRANSIENT);
			ok = sqlite3_step(param) == SQLITE_DONE;
			sqlite3_reset(param);
		}
		for (int k = 0; ok && k < 3 && i % 10; k++) {
			sqlite3_bind_int(result, 1, i);
			sqlite3_bind_text(result, 2, rk[k], -1, SQLITE_STATIC);
			sqlite3_bind_double(result, 3, rv[k]);
			ok = sqlite3_step(result) == SQLITE_DONE;
			sqlite3_reset(result);
		}
	}
	if (!ok && cause && !*cause)
		*cause = xasprintf("%s", sqlite3_errmsg(s));
	sqlite3_finalize(run);
	sqlite3_finalize(param);
	sqlite3_finalize(result);
	if (!ok) {
		db_rollback(big);
		return -1;
	}
	return db_commit(big, cause);
}

