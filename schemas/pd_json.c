/*  pd_json - JSON parsing with bounded nesting (see pd_json.h)

    The scan knows just enough JSON to find brackets that are not inside a
    string: a string starts at '"' and ends at the next '"' that is not
    escaped by a backslash. Everything else is jansson's to judge.
*/
#include "pd_json.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t
pd_json_depth (const char *text, size_t size, size_t max_depth)
{
    size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; text && i < size; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"')
            in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > max_depth)
                    return max_depth + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return deepest;
}

json_t *
pd_json_load (const char *text, size_t size, size_t max_depth, size_t flags, json_error_t *error)
{
    assert (max_depth <= PD_JSON_MAX_DEPTH);
    if (pd_json_depth (text, size, max_depth) > max_depth) {
        if (error) {
            memset (error, 0, sizeof (*error));
            error->line = -1;
            error->column = -1;
            error->position = -1;
            snprintf (error->text, sizeof (error->text), "nesting is deeper than %zu", max_depth);
            snprintf (error->source, sizeof (error->source), "<buffer>");
        }
        return NULL;
    }
    return json_loadb (text, size, flags, error);
}
