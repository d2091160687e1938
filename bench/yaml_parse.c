/* The reference for the YAML benchmark: libyaml's own event loop over a whole file, with no
 * values built. It reads the file into memory first, as agent's yaml.decode gets a string,
 * so the two processes do the same I/O and differ only in what follows the parse.
 * usage: yaml_parse FILE   (prints the number of events; exit 1 on any failure) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <yaml.h>

/* Reads the whole of path into a malloc'd buffer the caller frees, growing it as it goes (a
 * size from ftell means nothing for a directory or a pipe). NULL with errno set on failure. */
static unsigned char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      size_t grown = cap ? 2 * cap : 1 << 16;
      unsigned char *p = realloc(buf, grown);
      if (!p)
        break;
      buf = p;
      cap = grown;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  int failed = ferror(f) || n == cap; /* n == cap: the last realloc failed */
  int err = errno;
  fclose(f);
  if (failed) {
    free(buf);
    errno = err ? err : ENOMEM;
    return NULL;
  }
  *len = n;
  return buf;
}

/* Parses text to the end of the stream. Returns the number of events, or -1 on a YAML error
 * (reported on stderr). */
static long parse_events(const unsigned char *text, size_t len)
{
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return -1;
  yaml_parser_set_input_string(&parser, text, len);
  long events = 0;
  int done = 0;
  while (!done) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      fprintf(stderr, "yaml_parse: line %lu: %s\n", (unsigned long)parser.problem_mark.line + 1,
              parser.problem ? parser.problem : "error");
      events = -1;
      break;
    }
    done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    events++;
  }
  yaml_parser_delete(&parser);
  return events;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: yaml_parse FILE\n");
    return 2;
  }
  size_t len;
  unsigned char *text = read_file(argv[1], &len);
  if (!text) {
    perror(argv[1]);
    return 1;
  }
  long events = parse_events(text, len);
  free(text);
  if (events < 0)
    return 1;
  printf("events=%ld bytes=%zu\n", events, len);
  return 0;
}
