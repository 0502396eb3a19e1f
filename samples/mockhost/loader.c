/*
 * loader.c - dlopen, the ABI check and the plugin's lifecycle (see loader.h).
 */
#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* The descriptor fields this host reads, all part of ABI 1.0. */
#define DESCRIPTOR_VERSION_SIZE                                               \
    (offsetof(struct cpis_descriptor, abi_minor) + sizeof(uint32_t))
#define DESCRIPTOR_MIN_SIZE                                                   \
    (offsetof(struct cpis_descriptor, config_check) +                         \
     sizeof(((struct cpis_descriptor *)0)->config_check))

int plugin_load(struct loaded_plugin *lp, const char *path, char *err,
                size_t err_cap)
{
    memset(lp, 0, sizeof *lp);
    /* RTLD_NOW: fail here, not on the first call, if a symbol is missing.
     * RTLD_LOCAL: the plugin's symbols (and its libraries') stay its own. */
    lp->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lp->dl == NULL) {
        const char *why = dlerror();
        snprintf(err, err_cap, "cannot load the plugin: %s",
                 why != NULL ? why : "unknown reason");
        return -1;
    }
    /* dlsym returns an object pointer; POSIX guarantees it converts to a
     * function pointer.  memcpy avoids the ISO C cast diagnostic. */
    void *sym = dlsym(lp->dl, CPIS_ENTRY_SYMBOL);
    if (sym == NULL) {
        snprintf(err, err_cap, "not a cpis plugin: no %s symbol",
                 CPIS_ENTRY_SYMBOL);
        return -1;
    }
    cpis_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const struct cpis_descriptor *d = entry();
    if (d == NULL) {
        snprintf(err, err_cap, "the plugin returned no descriptor");
        return -1;
    }
    if (d->struct_size < DESCRIPTOR_VERSION_SIZE) {
        snprintf(err, err_cap, "the plugin's descriptor is too small (%u bytes)",
                 (unsigned)d->struct_size);
        return -1;
    }
    /* The major version must match; a different minor is fine (the
     * descriptor and host table only grow by appending). */
    if (d->abi_major != CPIS_ABI_MAJOR) {
        snprintf(err, err_cap,
                 "plugin ABI %u.%u is not compatible with host ABI %u.%u",
                 (unsigned)d->abi_major, (unsigned)d->abi_minor,
                 (unsigned)CPIS_ABI_MAJOR, (unsigned)CPIS_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < DESCRIPTOR_MIN_SIZE) {
        snprintf(err, err_cap,
                 "the plugin's descriptor is too small (%u bytes, ABI %u.%u "
                 "needs %zu)",
                 (unsigned)d->struct_size, (unsigned)CPIS_ABI_MAJOR,
                 (unsigned)CPIS_ABI_MINOR, (size_t)DESCRIPTOR_MIN_SIZE);
        return -1;
    }
    if (d->init == NULL || d->parse == NULL) {
        snprintf(err, err_cap, "the plugin's descriptor has no %s function",
                 d->init == NULL ? "init" : "parse");
        return -1;
    }
    lp->desc = d;
    return 0;
}

int plugin_init(struct loaded_plugin *lp, struct mock_host *h,
                const struct cpis_config_source *config, char *err,
                size_t err_cap)
{
    host_fill_api(h, &lp->api);
    err[0] = '\0';
    h->in_init = 1; /* register_hook accepted only now */
    int rc = lp->desc->init(&lp->api, config, &lp->plugin, err, err_cap);
    h->in_init = 0;
    if (rc != CPIS_OK || lp->plugin == NULL) {
        if (err[0] == '\0')
            snprintf(err, err_cap, "init failed: %s", host_status_name(rc));
        lp->plugin = NULL;
        return -1;
    }
    if (h->on_notification == NULL) {
        /* Not fatal for `parse`, which does not use hooks; `deliver` checks. */
        if (h->verbose)
            fprintf(stderr, "cpis-mockhost: the plugin registered no "
                            "notification hook\n");
    }
    return 0;
}

void plugin_unload(struct loaded_plugin *lp, struct mock_host *h)
{
    if (lp->plugin != NULL) {
        /* No hook is running or will run again (the mock host delivers on
         * this thread only); register_hook stays refused. */
        if (h->on_shutdown != NULL)
            h->on_shutdown(h->shutdown_user);
        if (lp->desc->shutdown != NULL)
            lp->desc->shutdown(lp->plugin);
        lp->plugin = NULL;
    }
    h->on_notification = NULL;
    h->on_config = NULL;
    h->on_shutdown = NULL;
    if (lp->dl != NULL)
        dlclose(lp->dl);
    lp->dl = NULL;
    lp->desc = NULL;
}
