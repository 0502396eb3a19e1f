/*
 * configcmd.h - `cpis-mockhost config check FILE` and `config show`: the
 * administrator's tools, built on the plugin's descriptor->config_check
 * (include/cpis/plugin.h), which validates a configuration without applying
 * it and reports the effective configuration.
 */
#ifndef MOCKHOST_CONFIGCMD_H
#define MOCKHOST_CONFIGCMD_H

#include <stddef.h>

/* The command's --help text. */
extern const char CONFIG_HELP[];

/* Runs `config` with its operands and options (args[0..nargs)).
 * plugin_path: the plugin to ask; config_path: the configuration `show`
 * reads (the global --config or its default); ods: the global --ods list
 * (NULL-terminated, NULL when none), which replaces ods.paths.  Returns the
 * exit status: 0 valid, 2 invalid configuration or usage error. */
int config_main(const char *plugin_path, const char *config_path,
                const char *const *ods, char **args, size_t nargs);

#endif /* MOCKHOST_CONFIGCMD_H */
