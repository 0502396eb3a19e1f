/* paths.h - where the mock host finds its defaults: the plugin beside the
 * program, the samples in the program's ../samples. */
#ifndef MOCKHOST_PATHS_H
#define MOCKHOST_PATHS_H

/* dir-of-this-program + "/" + rel, malloc'd; NULL when /proc/self/exe
 * cannot be read or memory runs out. */
char *beside_program(const char *rel);

#endif
