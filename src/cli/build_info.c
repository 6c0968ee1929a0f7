#include "cli/build_info.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

bool ls_status_name_is_final(const char *status)
{
    return strcmp(status, "pending") != 0 && strcmp(status, "running") != 0;
}

static int copy_status(const json_t *obj, char *dst, size_t len)
{
    const char *s = json_string_value(json_object_get(obj, "status"));
    if (!s || strlen(s) >= len)
        return -EINVAL;
    snprintf(dst, len, "%s", s);
    return 0;
}

int ls_step_info_from_json(const json_t *obj, ls_step_info *ret)
{
    ls_step_info s = {0};
    json_t *num = json_object_get(obj, "number");
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!json_is_integer(num) || json_integer_value(num) < 1 || json_integer_value(num) > 1000000 ||
        !name)
        return -EINVAL;
    if (copy_status(obj, s.status, sizeof(s.status)) < 0)
        return -EINVAL;
    s.number = (int)json_integer_value(num);
    s.service = kind && strcmp(kind, "service") == 0;
    json_t *code = json_object_get(obj, "exit_code");
    if (json_is_integer(code)) {
        s.has_exit_code = true;
        s.exit_code = (int)json_integer_value(code);
    }
    json_t *lines = json_object_get(obj, "lines");
    s.lines = json_is_integer(lines) ? json_integer_value(lines) : 0;
    s.name = ls_xstrdup(name);
    *ret = s;
    return 0;
}

static int by_number(const void *a, const void *b)
{
    const ls_step_info *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

void ls_build_info_update_step(ls_build_info *b, ls_step_info *step)
{
    ls_step_info *old = ls_build_info_step(b, step->number);
    if (old) {
        free(old->name);
        *old = *step;
        return;
    }
    b->steps = ls_xreallocarray(b->steps, b->nsteps + 1, sizeof(*b->steps));
    b->steps[b->nsteps++] = *step;
    qsort(b->steps, b->nsteps, sizeof(*b->steps), by_number);
}

int ls_build_info_from_json(const json_t *obj, ls_build_info *ret)
{
    ls_build_info b = {0};
    json_t *id = json_object_get(obj, "id");
    json_t *steps = json_object_get(obj, "steps");
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *url = json_string_value(json_object_get(obj, "url"));
    if (!json_is_integer(id) || !json_is_array(steps) ||
        copy_status(obj, b.status, sizeof(b.status)) < 0)
        return -EINVAL;
    b.id = json_integer_value(id);
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s)
    {
        ls_step_info step;
        if (ls_step_info_from_json(s, &step) < 0) {
            ls_build_info_clear(&b);
            return -EINVAL;
        }
        ls_build_info_update_step(&b, &step);
    }
    b.name = ls_xstrdup(name ? name : "");
    b.url = ls_xstrdup(url);
    *ret = b;
    return 0;
}

ls_step_info *ls_build_info_step(const ls_build_info *b, int number)
{
    for (size_t i = 0; i < b->nsteps; i++) {
        if (b->steps[i].number == number)
            return &b->steps[i];
    }
    return NULL;
}

ls_step_info *ls_build_info_step_by_name(const ls_build_info *b, const char *name)
{
    for (size_t i = 0; i < b->nsteps; i++) {
        if (strcmp(b->steps[i].name, name) == 0)
            return &b->steps[i];
    }
    return NULL;
}

void ls_build_info_clear(ls_build_info *b)
{
    for (size_t i = 0; i < b->nsteps; i++)
        free(b->steps[i].name);
    free(b->steps);
    free(b->name);
    free(b->url);
    memset(b, 0, sizeof(*b));
}
