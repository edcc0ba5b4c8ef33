#ifndef ADALLAVA_CGSL_SHIM_H
#define ADALLAVA_CGSL_SHIM_H
// GSL for least squares and statistics; CBLAS prototypes come from GSL's own header so the
// enums are declared once. The symbols resolve to OpenBLAS at link time (modulemap order).
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_cblas.h>

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
#endif
