/*
 * A small JSON writer for the command's --json output (docs/json.md):
 * objects and arrays written as they go, commas and escaping handled
 * here.  Output goes to stdout; nothing is buffered beyond stdio.
 */
#ifndef TPMKMS_CLI_JSON_H
#define TPMKMS_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 8

typedef struct json_st {
    int depth;
    int first[JSON_MAX_DEPTH];   /* no member written yet at this depth */
} JSON;

void json_begin_object(JSON *j, const char *key);   /* key NULL: a value */
void json_end_object(JSON *j);
void json_begin_array(JSON *j, const char *key);
void json_end_array(JSON *j);
void json_string(JSON *j, const char *key, const char *value); /* NULL: null */
void json_hex(JSON *j, const char *key, const unsigned char *p, size_t n);
void json_uint(JSON *j, const char *key, uint64_t value);
void json_bool(JSON *j, const char *key, int value);
void json_null(JSON *j, const char *key);
/* A handle as "0x81000010", or null when 0. */
void json_handle(JSON *j, const char *key, uint32_t handle);
/* Ends the document with a newline. */
void json_finish(JSON *j);

#endif
