/*
 * The JSON writer of json.h (RFC 8259): strings are UTF-8 as given, with
 * '"', '\\' and control characters escaped.
 */
#include <stdio.h>
#include "json.h"

static void put_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '"':
            fputs("\\\"", stdout);
            break;
        case '\\':
            fputs("\\\\", stdout);
            break;
        case '\n':
            fputs("\\n", stdout);
            break;
        case '\r':
            fputs("\\r", stdout);
            break;
        case '\t':
            fputs("\\t", stdout);
            break;
        default:
            if (c < 0x20)
                printf("\\u%04x", c);
            else
                putchar(c);
        }
    }
    putchar('"');
}

/* The comma, indentation and "key": before a member or element. */
static void member(JSON *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth])
            putchar(',');
        j->first[j->depth] = 0;
        printf("\n%*s", 2 * j->depth, "");
    }
    if (key != NULL) {
        put_string(key);
        fputs(": ", stdout);
    }
}

static void open_(JSON *j, const char *key, char c)
{
    member(j, key);
    putchar(c);
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = 1;
}

static void close_(JSON *j, char c)
{
    int empty = j->first[j->depth];

    if (j->depth > 0)
        j->depth--;
    if (!empty)
        printf("\n%*s", 2 * j->depth, "");
    putchar(c);
}

void json_begin_object(JSON *j, const char *key)
{
    open_(j, key, '{');
}

void json_end_object(JSON *j)
{
    close_(j, '}');
}

void json_begin_array(JSON *j, const char *key)
{
    open_(j, key, '[');
}

void json_end_array(JSON *j)
{
    close_(j, ']');
}

void json_string(JSON *j, const char *key, const char *value)
{
    member(j, key);
    if (value == NULL)
        fputs("null", stdout);
    else
        put_string(value);
}

void json_hex(JSON *j, const char *key, const unsigned char *p, size_t n)
{
    member(j, key);
    if (p == NULL) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    putchar('"');
}

void json_uint(JSON *j, const char *key, uint64_t value)
{
    member(j, key);
    printf("%llu", (unsigned long long)value);
}

void json_bool(JSON *j, const char *key, int value)
{
    member(j, key);
    fputs(value ? "true" : "false", stdout);
}

void json_null(JSON *j, const char *key)
{
    member(j, key);
    fputs("null", stdout);
}

void json_handle(JSON *j, const char *key, uint32_t handle)
{
    char buf[16];

    if (handle == 0) {
        json_null(j, key);
        return;
    }
    snprintf(buf, sizeof(buf), "0x%08x", (unsigned)handle);
    json_string(j, key, buf);
}

void json_finish(JSON *j)
{
    (void)j;
    putchar('\n');
    fflush(stdout);
}
