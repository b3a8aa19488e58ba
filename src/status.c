/* Status strings, enumeration names, version. */
#include "internal.h"

#include <string.h>

#define STR2(x) #x
#define STR(x) STR2(x)

const char *emgmm_version(void)
{
    return STR(EMGMM_VERSION_MAJOR) "." STR(EMGMM_VERSION_MINOR) "." STR(
        EMGMM_VERSION_PATCH);
}

const char *emgmm_strerror(int status)
{
    switch (status) {
    case EMGMM_OK: return "success";
    case EMGMM_ERR_NOMEM: return "out of memory";
    case EMGMM_ERR_INVALID: return "invalid argument";
    case EMGMM_ERR_SINGULAR:
        return "a covariance matrix is not positive definite; raise "
               "reg_covar or use fewer components";
    case EMGMM_ERR_NONFINITE: return "the data contain NaN or infinity";
    case EMGMM_ERR_IO: return "input/output error";
    case EMGMM_ERR_FORMAT: return "malformed model file";
    case EMGMM_ERR_UNSUPPORTED: return "not supported by this version";
    case EMGMM_ERR_TOO_FEW_SAMPLES:
        return "fewer distinct samples than components";
    case EMGMM_ERR_CANCELLED: return "cancelled";
    case EMGMM_ERR_EMPTY_COMPONENT:
        return "a component lost all its samples";
    case EMGMM_ERR_RANGE:
        return "the data's spread overflows or underflows double-precision "
               "covariances (column range above 1e150 or below 1e-150); "
               "rescale the data";
    default: return "unknown error";
    }
}

static const char *const covariance_names[] = {"full", "tied", "diag",
                                               "spherical"};
static const char *const init_names[] = {"kmeans", "kmeans++", "random",
                                         "random-data"};

const char *emgmm_covariance_type_name(emgmm_covariance_type type)
{
    if ((unsigned)type >= sizeof covariance_names / sizeof *covariance_names)
        return NULL;
    return covariance_names[type];
}

int emgmm_covariance_type_parse(const char *name, emgmm_covariance_type *type)
{
    if (!name || !type)
        return EMGMM_ERR_INVALID;
    for (size_t i = 0; i < sizeof covariance_names / sizeof *covariance_names;
         i++)
        if (strcmp(name, covariance_names[i]) == 0) {
            *type = (emgmm_covariance_type)i;
            return EMGMM_OK;
        }
    return EMGMM_ERR_INVALID;
}

const char *emgmm_init_method_name(emgmm_init_method method)
{
    if ((unsigned)method >= sizeof init_names / sizeof *init_names)
        return NULL;
    return init_names[method];
}

int emgmm_init_method_parse(const char *name, emgmm_init_method *method)
{
    if (!name || !method)
        return EMGMM_ERR_INVALID;
    for (size_t i = 0; i < sizeof init_names / sizeof *init_names; i++)
        if (strcmp(name, init_names[i]) == 0) {
            *method = (emgmm_init_method)i;
            return EMGMM_OK;
        }
    return EMGMM_ERR_INVALID;
}
