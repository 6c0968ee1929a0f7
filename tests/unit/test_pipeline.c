/* links: worker mask common */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "worker/pipeline.h"

/* The repository root, from this file's path (tests/unit/test_pipeline.c). */
static void repo_path(const char *rel, char *out, size_t outlen)
{
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/");
    int root = cut ? (int)(cut - file) : 0;
    snprintf(out, outlen, "%.*s%s", root, file, rel);
}

static ls_pipeline *parse_ok(const char *yaml, const char *filename)
{
    ls_pipeline *p = NULL;
    char err[512] = "";
    int r = ls_pipeline_parse(yaml, strlen(yaml), filename, &p, err, sizeof(err));
    if (r != 0)
        fail_msg("unexpected error: %s", err);
    assert_non_null(p);
    return p;
}

static const char *env_get(const ls_kv *env, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(env[i].key, key))
            return env[i].value;
    }
    return NULL;
}

static void test_hello_example(void **state)
{
    char path[4096], err[512] = "";
    repo_path("examples/hello.yml", path, sizeof(path));
    ls_pipeline *p = NULL;
    assert_int_equal(ls_pipeline_load(path, &p, err, sizeof(err)), 0);
    assert_string_equal(p->version, "1");
    assert_string_equal(p->name, "hello");
    assert_int_equal(p->n_steps, 1);
    assert_int_equal(p->n_services, 0);
    const ls_pipeline_step *s = &p->steps[0];
    assert_string_equal(s->name, "logs");
    assert_string_equal(s->image, "alpine:latest");
    assert_false(s->service);
    assert_int_equal(s->n_commands, 6);
    assert_string_equal(s->commands[0], "sleep 1");
    assert_string_equal(s->commands[1], "echo \"hello one\"");
    assert_string_equal(s->commands[5], "echo \"hello three\"");
    assert_int_equal(s->line, 3);
    assert_int_equal(s->column, 5);
    assert_int_equal(s->timeout_ms, 0);
    assert_false(s->tty);
    assert_false(s->continue_on_failure);
    ls_pipeline_free(p);
}

/* Every example shipped in examples/ is a valid pipeline. */
static void test_all_examples_parse(void **state)
{
    static const char *const names[] = {"hello.yml", "services.yml", "failing.yml", "secrets.yml",
                                        "timeout.yml"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char rel[64], path[4096], err[512] = "";
        snprintf(rel, sizeof(rel), "examples/%s", names[i]);
        repo_path(rel, path, sizeof(path));
        ls_pipeline *p = NULL;
        int r = ls_pipeline_load(path, &p, err, sizeof(err));
        if (r != 0)
            fail_msg("%s: %s", names[i], err);
        assert_true(p->n_steps > 0);
        ls_pipeline_free(p);
    }
}

static void test_services(void **state)
{
    ls_pipeline *p = parse_ok("version: \"1\"\n"
                              "name: with-db\n"
                              "steps:\n"
                              "  - name: test\n"
                              "    commands: [./wait-for-db, make test]\n"
                              "services:\n"
                              "  - name: db\n"
                              "    image: postgres:16\n"
                              "    commands:\n"
                              "      - postgres -D /tmp/db\n"
                              "  - name: cache\n"
                              "    commands: [redis-server]\n",
                              "ci.yml");
    assert_string_equal(p->name, "with-db");
    assert_int_equal(p->n_steps, 1);
    assert_int_equal(p->n_services, 2);
    assert_false(p->steps[0].service);
    assert_int_equal(p->steps[0].n_commands, 2);
    assert_string_equal(p->steps[0].commands[1], "make test");
    assert_true(p->services[0].service);
    assert_string_equal(p->services[0].name, "db");
    assert_string_equal(p->services[0].image, "postgres:16");
    assert_string_equal(p->services[0].commands[0], "postgres -D /tmp/db");
    assert_int_equal(p->services[0].line, 7);
    assert_string_equal(p->services[1].name, "cache");
    assert_null(p->services[1].image);
    ls_pipeline_free(p);
}

static void test_secrets(void **state)
{
    ls_pipeline *p = parse_ok("steps:\n"
                              "  - name: deploy\n"
                              "    secrets: [API_TOKEN, _other2]\n"
                              "    commands: [./deploy]\n"
                              "  - name: none\n"
                              "    secrets:\n"
                              "    commands: [true]\n",
                              "s.yml");
    assert_int_equal(p->steps[0].n_secrets, 2);
    assert_string_equal(p->steps[0].secrets[0], "API_TOKEN");
    assert_string_equal(p->steps[0].secrets[1], "_other2");
    assert_int_equal(p->steps[1].n_secrets, 0);
    ls_pipeline_free(p);
}

/* Scalars keep their text: numbers and booleans are not reformatted. */
static void test_environment(void **state)
{
    ls_pipeline *p = parse_ok("environment:\n"
                              "  PORT: 8080\n"
                              "  DEBUG: true\n"
                              "  RATIO: 1.50\n"
                              "  OCTAL: 0755\n"
                              "  QUOTED: \"007\"\n"
                              "  EMPTY:\n"
                              "  TILDE: ~\n"
                              "  TEXT: 'null'\n"
                              "  MULTI: |\n"
                              "    line1\n"
                              "    line2\n"
                              "steps:\n"
                              "  - name: a\n"
                              "    environment: {GREETING: hello world, N: -3}\n"
                              "    commands: [env]\n",
                              "e.yml");
    assert_int_equal(p->n_env, 9);
    assert_string_equal(env_get(p->env, p->n_env, "PORT"), "8080");
    assert_string_equal(env_get(p->env, p->n_env, "DEBUG"), "true");
    assert_string_equal(env_get(p->env, p->n_env, "RATIO"), "1.50");
    assert_string_equal(env_get(p->env, p->n_env, "OCTAL"), "0755");
    assert_string_equal(env_get(p->env, p->n_env, "QUOTED"), "007");
    assert_string_equal(env_get(p->env, p->n_env, "EMPTY"), "");
    assert_string_equal(env_get(p->env, p->n_env, "TILDE"), "");
    assert_string_equal(env_get(p->env, p->n_env, "TEXT"), "null");
    assert_string_equal(env_get(p->env, p->n_env, "MULTI"), "line1\nline2\n");
    assert_string_equal(p->env[0].key, "PORT"); /* file order is kept */
    const ls_pipeline_step *s = &p->steps[0];
    assert_int_equal(s->n_env, 2);
    assert_string_equal(env_get(s->env, s->n_env, "GREETING"), "hello world");
    assert_string_equal(env_get(s->env, s->n_env, "N"), "-3");
    ls_pipeline_free(p);
}

static void test_ruleset_tty_timeout(void **state)
{
    ls_pipeline *p = parse_ok("steps:\n"
                              "  - name: flaky\n"
                              "    ruleset: {continue: true}\n"
                              "    tty: yes\n"
                              "    timeout: 10m\n"
                              "    commands: [./flaky]\n"
                              "  - name: strict\n"
                              "    ruleset:\n"
                              "      continue: false\n"
                              "    tty: false\n"
                              "    timeout: 90s\n"
                              "    commands: [./strict]\n"
                              "  - name: plain\n"
                              "    timeout: 0\n"
                              "    commands: [./plain]\n",
                              "r.yml");
    assert_true(p->steps[0].continue_on_failure);
    assert_true(p->steps[0].tty);
    assert_int_equal(p->steps[0].timeout_ms, 600000);
    assert_false(p->steps[1].continue_on_failure);
    assert_false(p->steps[1].tty);
    assert_int_equal(p->steps[1].timeout_ms, 90000);
    assert_int_equal(p->steps[2].timeout_ms, 0);
    ls_pipeline_free(p);
}

static void test_multiline_and_flow_commands(void **state)
{
    ls_pipeline *p = parse_ok("{steps: [{name: a, commands: [\"echo 'x: y'\", folded\n"
                              "    text]}, {name: b, commands: [\"|\"]}]}\n",
                              "f.yml");
    assert_int_equal(p->n_steps, 2);
    assert_string_equal(p->steps[0].commands[0], "echo 'x: y'");
    assert_string_equal(p->steps[0].commands[1], "folded text");
    assert_string_equal(p->steps[1].commands[0], "|");
    ls_pipeline_free(p);

    p = parse_ok("steps:\n"
                 "  - name: loop\n"
                 "    commands:\n"
                 "      - |\n"
                 "        for i in 1 2; do\n"
                 "          echo $i\n"
                 "        done\n"
                 "      - echo \"done\"\n",
                 "m.yml");
    assert_string_equal(p->steps[0].commands[0], "for i in 1 2; do\n  echo $i\ndone\n");
    assert_string_equal(p->steps[0].commands[1], "echo \"done\"");
    ls_pipeline_free(p);
}

static void test_anchors_and_aliases(void **state)
{
    ls_pipeline *p = parse_ok("steps:\n"
                              "  - name: a\n"
                              "    environment: &common {A: 1, B: two}\n"
                              "    commands: &cmds [make]\n"
                              "  - name: b\n"
                              "    environment: *common\n"
                              "    commands: *cmds\n",
                              "a.yml");
    assert_int_equal(p->steps[1].n_env, 2);
    assert_string_equal(env_get(p->steps[1].env, 2, "B"), "two");
    assert_string_equal(p->steps[1].commands[0], "make");
    ls_pipeline_free(p);
}

static void test_default_name_and_version(void **state)
{
    const char *yaml = "steps:\n  - name: a\n    commands: [x]\n";
    ls_pipeline *p = parse_ok(yaml, "some/dir/my-pipe.yaml");
    assert_string_equal(p->name, "my-pipe");
    assert_string_equal(p->version, "1");
    ls_pipeline_free(p);
    p = parse_ok(yaml, "build.yml");
    assert_string_equal(p->name, "build");
    ls_pipeline_free(p);
    p = parse_ok("version: 1\nsteps:\n  - name: a\n    commands: [x]\n", NULL);
    assert_string_equal(p->name, "pipeline");
    assert_string_equal(p->version, "1");
    ls_pipeline_free(p);
}

/* One invalid file and the exact message it must produce. */
typedef struct bad_case {
    const char *name;
    const char *yaml;
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    {"commands_scalar",
     "version: \"1\"\n"
     "steps:\n"
     "  - name: a\n"
     "    commands: make\n",
     "t.yml:4:15: \"commands\" must be a list of strings"},
    {"commands_map",
     "steps:\n"
     "  - name: a\n"
     "    commands: {make: 1}\n",
     "t.yml:3:15: \"commands\" must be a list of strings"},
    {"command_item_map",
     "steps:\n"
     "  - name: a\n"
     "    commands:\n"
     "      - echo a: b\n",
     "t.yml:4:9: \"commands\" must be a list of strings, but this item is a mapping; put it in "
     "quotes if it contains \": \""},
    {"command_item_list",
     "steps:\n"
     "  - name: a\n"
     "    commands:\n"
     "      - [a, b]\n",
     "t.yml:4:9: \"commands\" must be a list of strings, but this item is a list"},
    {"commands_empty",
     "steps:\n"
     "  - name: a\n"
     "    commands: []\n",
     "t.yml:3:15: \"commands\" is empty; list at least one command"},
    {"command_blank",
     "steps:\n"
     "  - name: a\n"
     "    commands: [\"make\", \"  \"]\n",
     "t.yml:3:24: empty command in \"commands\"; remove it or write the command"},
    {"unknown_step_key",
     "steps:\n"
     "  - name: a\n"
     "    comands: [make]\n",
     "t.yml:3:5: unknown key \"comands\" in a step (did you mean \"commands\"?); known keys: name, "
     "image, commands, environment, secrets, tty, timeout, ruleset"},
    {"unknown_step_key_far",
     "steps:\n"
     "  - name: a\n"
     "    commands: [make]\n"
     "    when: {branch: main}\n",
     "t.yml:4:5: unknown key \"when\" in a step; known keys: name, image, commands, environment, "
     "secrets, tty, timeout, ruleset"},
    {"unknown_top_key",
     "version: \"1\"\n"
     "step:\n"
     "  - name: a\n",
     "t.yml:2:1: unknown key \"step\" in the pipeline (did you mean \"steps\"?); known keys: "
     "version, name, environment, steps, services, plugins"},
    {"missing_steps",
     "version: \"1\"\n"
     "name: x\n",
     "t.yml:1:1: the pipeline has no \"steps\"; add a list of steps to run"},
    {"steps_empty", "steps: []\n",
     "t.yml:1:8: \"steps\" is empty; a pipeline needs at least one step"},
    {"steps_scalar", "steps: make\n",
     "t.yml:1:8: \"steps\" must be a list of steps (each item starts with \"- name:\")"},
    {"step_not_map",
     "steps:\n"
     "  - make\n",
     "t.yml:2:5: each step must be a mapping with \"name\" and \"commands\", not a string"},
    {"missing_name",
     "steps:\n"
     "  - commands: [make]\n",
     "t.yml:2:5: this step has no \"name\"; add one, e.g. name: build"},
    {"missing_commands",
     "steps:\n"
     "  - name: build\n"
     "    image: alpine\n",
     "t.yml:2:5: step \"build\" has no \"commands\"; add the list of commands to run"},
    {"dup_step",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "  - name: a\n"
     "    commands: [y]\n",
     "t.yml:4:11: duplicate name \"a\": the step at 2:5 has it already; steps and services need "
     "unique names"},
    {"dup_service",
     "steps:\n"
     "  - name: db\n"
     "    commands: [x]\n"
     "services:\n"
     "  - name: db\n"
     "    commands: [y]\n",
     "t.yml:5:11: duplicate name \"db\": the step at 2:5 has it already; steps and services need "
     "unique names"},
    {"dup_service_first",
     "services:\n"
     "  - name: db\n"
     "    commands: [y]\n"
     "steps:\n"
     "  - name: db\n"
     "    commands: [x]\n",
     "t.yml:2:11: duplicate name \"db\": the step at 5:5 has it already; steps and services need "
     "unique names"},
    {"dup_key",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    name: b\n",
     "t.yml:4:5: duplicate key \"name\" in a step (first at 2:5)"},
    {"dup_top_key",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "steps: []\n",
     "t.yml:4:1: duplicate key \"steps\" in the pipeline (first at 1:1)"},
    {"timeout_bad",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    timeout: 10 minutes\n",
     "t.yml:4:14: invalid \"timeout\" \"10 minutes\": use a duration such as 30s, 10m or 1h"},
    {"timeout_nounit",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    timeout: 600\n",
     "t.yml:4:14: \"timeout\" 600 has no unit; write e.g. 600s or 600m"},
    {"timeout_list",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    timeout: [1]\n",
     "t.yml:4:14: \"timeout\" must be a duration such as 30s, 10m or 1h, not a list"},
    {"version_2",
     "version: \"2\"\n"
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n",
     "t.yml:1:10: unsupported version \"2\": this logstream reads version \"1\""},
    {"version_list",
     "version: [1]\n"
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n",
     "t.yml:1:10: \"version\" must be \"1\", not a list"},
    {"syntax_flow",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x\n",
     "t.yml:4:1: YAML syntax error while parsing a flow sequence started at 3:15: did not find "
     "expected ',' or ']'"},
    {"syntax_indent",
     "steps:\n"
     "  - name: a\n"
     "   commands: [x]\n",
     "t.yml:3:4: YAML syntax error while parsing a block collection started at 2:3: did not find "
     "expected '-' indicator"},
    {"syntax_quote",
     "steps:\n"
     "  - name: \"a\n"
     "    commands: [x]\n",
     "t.yml:4:1: YAML syntax error while scanning a quoted scalar started at 2:11: found "
     "unexpected end of stream"},
    {"tab_indent",
     "steps:\n"
     "  - name: a\n"
     "\tcommands: [x]\n",
     "t.yml:3:1: tab character in indentation; YAML indents with spaces only"},
    {"tab_indent_item",
     "steps:\n"
     "  - name: a\n"
     "    commands:\n"
     "\t  - x\n",
     "t.yml:4:1: tab character in indentation; YAML indents with spaces only"},
    {"env_list_value",
     "environment:\n"
     "  A: [1, 2]\n"
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n",
     "t.yml:2:6: the value of environment variable \"A\" must be a string, number or boolean, not "
     "a list"},
    {"env_bad_name",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    environment:\n"
     "      MY-VAR: 1\n",
     "t.yml:5:7: invalid environment variable name \"MY-VAR\": use letters, digits and _, not "
     "starting with a digit"},
    {"env_not_map",
     "environment: [A=1]\n"
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n",
     "t.yml:1:14: \"environment\" must be a mapping of NAME: value, not a list"},
    {"env_dup",
     "environment:\n"
     "  A: 1\n"
     "  A: 2\n"
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n",
     "t.yml:3:3: duplicate environment variable \"A\""},
    {"secrets_bad",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    secrets: [api-token]\n",
     "t.yml:4:15: invalid secret name \"api-token\": a secret names an environment variable of the "
     "worker (letters, digits and _)"},
    {"secrets_scalar",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    secrets: TOKEN\n",
     "t.yml:4:14: \"secrets\" must be a list of strings"},
    {"tty_bad",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    tty: maybe\n",
     "t.yml:4:10: \"tty\" must be true or false"},
    {"ruleset_unknown",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    ruleset: {continue: true, retry: 2}\n",
     "t.yml:4:31: unknown key \"retry\" in \"ruleset\"; known keys: continue"},
    {"ruleset_scalar",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    ruleset: continue\n",
     "t.yml:4:14: \"ruleset\" must be a mapping such as {continue: true}, not a string"},
    {"name_empty",
     "steps:\n"
     "  - name: \"\"\n"
     "    commands: [x]\n",
     "t.yml:2:11: \"name\" must be a non-empty string"},
    {"name_multiline",
     "steps:\n"
     "  - name: \"a\\nb\"\n"
     "    commands: [x]\n",
     "t.yml:2:11: \"name\" must be a single line without control characters"},
    {"top_list",
     "- name: a\n"
     "  commands: [x]\n",
     "t.yml:1:1: the top level must be a mapping with \"version\" and \"steps\", not a list"},
    {"top_scalar", "hello\n",
     "t.yml:1:1: the top level must be a mapping with \"version\" and \"steps\", not a string"},
    {"empty_file", "", "t.yml:1:1: the file is empty; a pipeline needs \"version\" and \"steps\""},
    {"comments_only", "# nothing here\n",
     "t.yml:1:1: the file is empty; a pipeline needs \"version\" and \"steps\""},
    {"two_docs",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "---\n"
     "steps: []\n",
     "t.yml:4:1: a second YAML document; a pipeline file holds exactly one"},
    {"nul_in_command",
     "steps:\n"
     "  - name: a\n"
     "    commands: [\"a\\0b\"]\n",
     "t.yml:3:16: this item of \"commands\" contains a NUL byte"},
    {"key_not_scalar",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "    [k]: v\n",
     "t.yml:4:5: a key in a step must be a plain word, not a list"},
    {"image_list",
     "steps:\n"
     "  - name: a\n"
     "    image: [x]\n"
     "    commands: [x]\n",
     "t.yml:3:12: \"image\" must be a string"},
    {"services_scalar",
     "steps:\n"
     "  - name: a\n"
     "    commands: [x]\n"
     "services: db\n",
     "t.yml:4:11: \"services\" must be a list of services (each item starts with \"- name:\")"},
    {"plugins_scalar",
     "steps: [{name: a, commands: [x]}]\n"
     "plugins: all\n",
     "t.yml:2:10: \"plugins\" must be a mapping with enabled, disable, enable and settings, not "
     "a string"},
    {"plugins_unknown_key",
     "steps: [{name: a, commands: [x]}]\n"
     "plugins:\n"
     "  disabled: [x]\n",
     "t.yml:3:3: unknown key \"disabled\" in \"plugins\" (did you mean \"disable\"?); known "
     "keys: enabled, disable, enable, settings"},
    {"plugins_bad_name",
     "steps: [{name: a, commands: [x]}]\n"
     "plugins:\n"
     "  enable: [ok, Not_OK]\n",
     "t.yml:3:16: invalid plugin name \"Not_OK\" in \"enable\": a plugin name is 1 to 32 of "
     "a-z, 0-9 and '-'"},
    {"plugins_both",
     "steps: [{name: a, commands: [x]}]\n"
     "plugins:\n"
     "  disable: [resave]\n"
     "  enable: [resave]\n",
     "t.yml:4:11: plugin \"resave\" is in both \"enable\" and \"disable\"; keep it in one"},
    {"plugins_enabled_not_bool",
     "steps: [{name: a, commands: [x]}]\n"
     "plugins: {enabled: maybe}\n",
     "t.yml:2:20: \"enabled\" must be true or false"},
    {"plugins_settings_not_map",
     "steps: [{name: a, commands: [x]}]\n"
     "plugins:\n"
     "  settings:\n"
     "    resave: /tmp/x\n",
     "t.yml:4:13: the settings of plugin \"resave\" must be a mapping of key: value, not a "
     "string"},
};

/* plugins: {enabled, enable, disable, settings}; settings become JSON. */
static void test_plugins(void **state)
{
    ls_pipeline *p = parse_ok("steps: [{name: a, commands: [x]}]\n", "t.yml");
    assert_true(p->plugins.enabled);
    assert_int_equal(p->plugins.n_enable + p->plugins.n_disable + p->plugins.n_settings, 0);
    ls_pipeline_free(p);
    p = parse_ok("steps: [{name: a, commands: [x]}]\n"
                 "plugins:\n"
                 "  enabled: no\n"
                 "  enable: [resave, test-results]\n"
                 "  disable: [forward]\n"
                 "  settings:\n"
                 "    resave: {dir: /tmp/c, n: 12, r: 1.5, on: true, s: \"12\", none: ~, "
                 "list: [a, 2], sub: {k: v}}\n"
                 "    forward:\n",
                 "t.yml");
    assert_false(p->plugins.enabled);
    assert_int_equal(p->plugins.n_enable, 2);
    assert_string_equal(p->plugins.enable[1], "test-results");
    assert_int_equal(p->plugins.n_disable, 1);
    assert_string_equal(p->plugins.disable[0], "forward");
    assert_int_equal(p->plugins.n_settings, 2);
    assert_string_equal(p->plugins.settings[0].name, "resave");
    assert_string_equal(p->plugins.settings[0].json,
                        "{\"dir\":\"/tmp/c\",\"n\":12,\"r\":1.5,\"on\":true,\"s\":\"12\","
                        "\"none\":null,\"list\":[\"a\",2],\"sub\":{\"k\":\"v\"}}");
    assert_string_equal(p->plugins.settings[1].name, "forward");
    assert_string_equal(p->plugins.settings[1].json, "{}");
    ls_pipeline_free(p);
}

static void test_invalid_files(void **state)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case *c = &bad_cases[i];
        ls_pipeline *p = (ls_pipeline *)0x1;
        char err[512] = "";
        int r = ls_pipeline_parse(c->yaml, strlen(c->yaml), "t.yml", &p, err, sizeof(err));
        if (r != -EINVAL || strcmp(err, c->message) != 0)
            fail_msg("case %s: r=%d\n got: %s\nwant: %s", c->name, r, err, c->message);
        assert_ptr_equal(p, (ls_pipeline *)0x1); /* untouched on failure */
    }
}

/* A NUL byte in the raw file (not a YAML escape) or bad UTF-8 is pinpointed. */
static void test_raw_nul_byte(void **state)
{
    static const char data[] = "steps:\n  - name: a\0\n";
    ls_pipeline *p = NULL;
    char err[256];
    assert_int_equal(ls_pipeline_parse(data, sizeof(data) - 1, "n.yml", &p, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(
        err, "n.yml:2:12: control characters are not allowed (byte 0x00); the file must be UTF-8 "
             "text");
    assert_null(p);
    static const char latin1[] = "steps:\n  - name: caf\xff\n    commands: [x]\n";
    assert_int_equal(ls_pipeline_parse(latin1, sizeof(latin1) - 1, "l.yml", &p, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(
        err, "l.yml:2:14: invalid leading UTF-8 octet (byte 0xff); the file must be UTF-8 text");
}

static void test_limits(void **state)
{
    const char *yaml = "steps:\n"
                       "  - name: a\n"
                       "    commands: [x, y, z]\n"
                       "    environment: {A: 1, B: 2}\n"
                       "  - name: b\n"
                       "    commands: [x]\n"
                       "services:\n"
                       "  - name: c\n"
                       "    commands: [x]\n";
    struct {
        ls_pipeline_limits lim;
        const char *message;
    } cases[] = {
        {{.max_steps = 2}, "t.yml:8:3: too many steps and services (3); the limit is 2"},
        {{.max_commands = 2}, "t.yml:3:15: \"commands\" has 3 items; the limit is 2"},
        {{.max_env = 1}, "t.yml:4:18: \"environment\" has 2 entries; the limit is 1"},
        {{.max_name_bytes = 0, .max_value_bytes = 0, .max_file_bytes = 50},
         "t.yml:1:1: the file is 143 bytes; the limit is 50 bytes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ls_pipeline *p = NULL;
        char err[256] = "";
        assert_int_equal(ls_pipeline_parse_limits(yaml, strlen(yaml), "t.yml", &cases[i].lim, &p,
                                                  err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, cases[i].message);
        assert_null(p);
    }
    ls_pipeline_limits ok = {.max_steps = 3, .max_commands = 3, .max_env = 2};
    ls_pipeline *p = NULL;
    char err[256] = "";
    assert_int_equal(
        ls_pipeline_parse_limits(yaml, strlen(yaml), "t.yml", &ok, &p, err, sizeof(err)), 0);
    ls_pipeline_free(p);

    ls_pipeline_limits small = {.max_value_bytes = 4, .max_name_bytes = 3};
    const char *long_cmd = "steps:\n  - name: abc\n    commands: [hello]\n";
    assert_int_equal(
        ls_pipeline_parse_limits(long_cmd, strlen(long_cmd), "t.yml", &small, &p, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "t.yml:3:16: this item of \"commands\" is 5 bytes long; the limit "
                             "is 4 bytes");
    const char *long_name = "steps:\n  - name: abcd\n    commands: [x]\n";
    assert_int_equal(ls_pipeline_parse_limits(long_name, strlen(long_name), "t.yml", &small, &p,
                                              err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.yml:2:11: \"name\" is 4 bytes long; the limit is 3 bytes");
}

/* Deep nesting, many values and alias expansion are refused early. */
static void test_shape_limits(void **state)
{
    ls_pipeline *p = NULL;
    char err[256] = "";
    ls_buf deep = LS_BUF_INIT;
    ls_buf_puts(&deep, "steps: ");
    for (int i = 0; i < 100000; i++)
        ls_buf_putc(&deep, '[');
    for (int i = 0; i < 100000; i++)
        ls_buf_putc(&deep, ']');
    assert_int_equal(ls_pipeline_parse(deep.data, deep.len, "t.yml", &p, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "t.yml:1:39: lists and mappings nest deeper than 32 levels");
    ls_buf_free(&deep);

    const char *yaml = "steps:\n"
                       "  - name: a\n"
                       "    commands: &c [x, y, z]\n"
                       "  - name: b\n"
                       "    commands: *c\n";
    ls_pipeline_limits nodes = {.max_nodes = 10};
    assert_int_equal(
        ls_pipeline_parse_limits(yaml, strlen(yaml), "t.yml", &nodes, &p, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "t.yml:3:25: more than 10 YAML values in one file");
    ls_pipeline_limits depth = {.max_depth = 3};
    assert_int_equal(
        ls_pipeline_parse_limits(yaml, strlen(yaml), "t.yml", &depth, &p, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(err, "t.yml:3:15: lists and mappings nest deeper than 3 levels");
    /* a, x, y, z, b and the alias's x, y, z: 8 strings of 1 byte, 16 bytes kept */
    ls_pipeline_limits expand = {.max_expanded_bytes = 14};
    assert_int_equal(
        ls_pipeline_parse_limits(yaml, strlen(yaml), "t.yml", &expand, &p, err, sizeof(err)),
        -EINVAL);
    assert_string_equal(
        err, "t.yml:3:25: the pipeline expands to more than 14 bytes (aliases repeat text)");
    assert_null(p);
    ls_pipeline_limits enough = {.max_nodes = 16, .max_depth = 4, .max_expanded_bytes = 16};
    assert_int_equal(
        ls_pipeline_parse_limits(yaml, strlen(yaml), "t.yml", &enough, &p, err, sizeof(err)), 0);
    assert_int_equal(p->steps[1].n_commands, 3);
    ls_pipeline_free(p);
}

static void test_load_errors(void **state)
{
    ls_pipeline *p = NULL;
    char err[512] = "";
    assert_int_equal(ls_pipeline_load("/no/such/file.yml", &p, err, sizeof(err)), -ENOENT);
    assert_string_equal(
        err, "/no/such/file.yml: cannot open the pipeline file: No such file or directory");
    assert_null(p);

    char path[] = "/tmp/ls-pipeline-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "steps:\n  - name: a\n    commands: [x]\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    ls_pipeline_limits lim = {.max_file_bytes = 10};
    assert_int_equal(ls_pipeline_load_limits(path, &lim, &p, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "larger than the limit of 10 bytes"));
    assert_null(p);
    assert_int_equal(ls_pipeline_load(path, &p, err, sizeof(err)), 0);
    assert_string_equal(p->steps[0].name, "a");
    ls_pipeline_free(p);
    unlink(path);

    /* Messages of a loaded file start with its path. */
    char bad[] = "/tmp/ls-pipeline-test-XXXXXX";
    fd = mkstemp(bad);
    assert_true(fd >= 0);
    const char *bad_yaml = "steps:\n  - name: a\n";
    assert_int_equal(write(fd, bad_yaml, strlen(bad_yaml)), (ssize_t)strlen(bad_yaml));
    close(fd);
    assert_int_equal(ls_pipeline_load(bad, &p, err, sizeof(err)), -EINVAL);
    char want[256];
    snprintf(want, sizeof(want),
             "%s:2:5: step \"a\" has no \"commands\"; add the list of commands to run", bad);
    assert_string_equal(err, want);
    unlink(bad);
    ls_pipeline_free(NULL);
}

/* A small error buffer truncates the message but stays NUL-terminated. */
static void test_small_error_buffer(void **state)
{
    ls_pipeline *p = NULL;
    char err[12];
    memset(err, 'x', sizeof(err));
    assert_int_equal(ls_pipeline_parse("steps: 1\n", 9, "t.yml", &p, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "t.yml:1:8: ");
    assert_int_equal(ls_pipeline_parse("steps: 1\n", 9, "t.yml", &p, NULL, 0), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_example),
        cmocka_unit_test(test_all_examples_parse),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_ruleset_tty_timeout),
        cmocka_unit_test(test_multiline_and_flow_commands),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_default_name_and_version),
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_plugins),
        cmocka_unit_test(test_raw_nul_byte),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_shape_limits),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_small_error_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
