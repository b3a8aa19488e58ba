/* A program built against the installed package (see test_install.sh):
 * fits two well separated groups and checks the answer. */
#include <emgmm.h>

#include <math.h>
#include <stdio.h>

int main(void)
{
    double X[200];
    for (int i = 0; i < 100; i++) {
        double t = (double)i / 100.0;
        X[2 * i] = (i < 50 ? -10.0 : 10.0) + sin(7.0 * t);
        X[2 * i + 1] = cos(13.0 * t);
    }
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    emgmm_model *m = NULL;
    emgmm_fit_info info;
    int rc = emgmm_fit(&p, X, 100, 2, 2, &m, &info);
    if (rc != EMGMM_OK) {
        fprintf(stderr, "fit failed: %s\n", emgmm_strerror(rc));
        return 1;
    }
    const double *w = emgmm_weights(m);
    int ok = fabs(w[0] - 0.5) < 1e-6 && fabs(w[1] - 0.5) < 1e-6;
    printf("emgmm %s: weights %.3f %.3f after %d iterations\n",
           emgmm_version(), w[0], w[1], info.n_iter);
    emgmm_free(&m);
    return ok ? 0 : 1;
}
