/*
 * zoo: the named architectures of the `model` key, built layer by layer
 * through engine/model.h. Private to engine/ (model_new() is the way in).
 */
#ifndef QB_ZOO_H
#define QB_ZOO_H

struct model;

/*
 * Adds the layers of architecture `arch` to m, fresh from model_begin() with
 * the input shape and class count set. Returns 0, or -1 with *cause for an
 * unknown name (suggesting the nearest one). Shape errors are recorded in m
 * and reported by model_finish().
 */
int zoo_build(struct model *m, const char *arch, char **cause);

/* The architecture names, NULL-terminated (static). */
const char *const *zoo_names(void);

/* One line describing arch (static), or NULL for an unknown name. */
const char *zoo_help(const char *arch);

#endif
