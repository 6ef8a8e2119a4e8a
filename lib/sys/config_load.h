/* config_load.h -- the environment plus the CGICACHE_CONFIG file, parsed. */
#ifndef CGICACHE_CONFIG_LOAD_H
#define CGICACHE_CONFIG_LOAD_H

#include "config.h"

/* Like cc_config_parse, reading the file CGICACHE_CONFIG names; a file
 * that cannot be read is reported as a problem.  NULL: out of memory. */
cc_config *cc_config_load(char *const *envp);

#endif
