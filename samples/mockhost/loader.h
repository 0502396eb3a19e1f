/*
 * loader.h - loading the plugin the way any host must (plugin.h, lifecycle):
 * dlopen, look up the ONE entry symbol, check the descriptor's size and ABI
 * major version, init with the host table and the configuration; and, at the
 * end, the shutdown hook, descriptor->shutdown and dlclose, in that order.
 */
#ifndef MOCKHOST_LOADER_H
#define MOCKHOST_LOADER_H

#include <stddef.h>

#include "cpis/plugin.h"

#include "host.h"

struct loaded_plugin {
    void *dl;                          /* dlopen handle */
    const struct cpis_descriptor *desc; /* static, owned by the plugin */
    struct cpis_plugin *plugin;        /* from init, NULL before / on failure */
    struct cpis_host_api api;          /* must outlive the plugin */
};

/* dlopens `path` and checks its descriptor.  Returns 0, or -1 with a reason
 * in err, e.g. "plugin ABI 2.0 is not compatible with host ABI 1.0". */
int plugin_load(struct loaded_plugin *lp, const char *path, char *err,
                size_t err_cap);

/* Fills the host table from h and calls descriptor->init; hooks may be
 * registered only while this runs.  Returns 0, or -1 with the plugin's
 * reason in err. */
int plugin_init(struct loaded_plugin *lp, struct mock_host *h,
                const struct cpis_config_source *config, char *err,
                size_t err_cap);

/* Shutdown hook, descriptor->shutdown, dlclose.  Safe on a partly loaded
 * plugin and on a zeroed struct. */
void plugin_unload(struct loaded_plugin *lp, struct mock_host *h);

#endif /* MOCKHOST_LOADER_H */
