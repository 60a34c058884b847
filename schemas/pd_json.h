/*  pd_json - JSON parsing with bounded nesting, for untrusted text

    jansson's parser recurses once per nested array or object and stops only
    at 2048 levels: on a thread with a small stack (CivetWeb's workers have
    100 KiB) a 1.8 KB body of 900 '[' overflows the stack first. Every JSON
    text that comes from outside (HTTP bodies, ID tokens, JWKS, provider
    answers) is parsed here: one linear, non-recursive pass measures the
    nesting (brackets outside strings) and refuses the text before jansson
    sees it when it nests deeper than the caller allows, so the recursion
    that follows is bounded by that depth.
*/
#ifndef PD_JSON_H_INCLUDED
#define PD_JSON_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The deepest nesting any caller may allow: far below what a 100 KiB
//  stack holds (jansson uses well under 200 bytes a level)
#define PD_JSON_MAX_DEPTH 32

//  The deepest nesting of arrays and objects in text[0..size): 0 for a
//  scalar, 1 for {} or [], ... Stops counting (and returns max_depth + 1)
//  as soon as the text nests deeper than max_depth. Malformed text is
//  measured as far as it goes; jansson judges it later.
size_t pd_json_depth (const char *text, size_t size, size_t max_depth);

//  Parse text[0..size) as jansson's json_loadb does with `flags`, but
//  refuse (NULL) a text that nests deeper than max_depth (at most
//  PD_JSON_MAX_DEPTH). When `error` is not NULL it is filled either way; a
//  refusal for depth has error->text "nesting is deeper than N". New
//  reference; caller decrefs.
json_t *pd_json_load (const char *text, size_t size, size_t max_depth, size_t flags,
                      json_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
