/*
 * compute.c — the tax computations as pure functions over fen (see tax.h for the
 * rounding rule).  No I/O, no parameters of their own: every rate comes in.
 */
#include "tax/tax.h"

__extension__ typedef __int128 i128;

/* n / d rounded half away from zero (d > 0). */
static long long div_round(i128 n, i128 d)
{
    i128 q = (n >= 0 ? n + d / 2 : n - d / 2) / d;
    return (long long)q;
}

long long tax_mul_bp(long long fen, long long bp) { return div_round((i128)fen * bp, 10000); }

long long tax_mul_bp2(long long fen, long long a_bp, long long b_bp)
{
    return div_round((i128)fen * a_bp * b_bp, (i128)100000000);
}

long long tax_net_of(long long gross_fen, long long bp)
{
    return div_round((i128)gross_fen * 10000, 10000 + bp);
}

static long long max0(long long v) { return v > 0 ? v : 0; }

void tax_iit_cumulative(const struct tax_iit_params *p, const struct tax_iit_in *in, struct tax_iit_out *out)
{
    long long taxable = in->income_fen - in->exempt_fen - in->basic_fen - in->special_fen -
                        in->additional_fen - in->other_fen;
    out->taxable_fen = max0(taxable);
    out->rate_bp = 0;
    out->quick_fen = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->b[i].upto_fen < 0 || out->taxable_fen <= p->b[i].upto_fen || i == p->n - 1) {
            out->rate_bp = p->b[i].rate_bp;
            out->quick_fen = p->b[i].quick_fen;
            break;
        }
    }
    out->tax_fen = max0(tax_mul_bp(out->taxable_fen, out->rate_bp) - out->quick_fen);
    out->due_fen = max0(out->tax_fen - in->prepaid_fen);
}

void tax_vat_small(const struct tax_vat_small_params *p, long long sales_fen, int monthly,
                   struct tax_vat_small_out *out)
{
    long long threshold = monthly ? p->exempt_month_fen : p->exempt_quarter_fen;
    out->sales_fen = sales_fen;
    out->exempt = sales_fen <= threshold;
    if (out->exempt) {
        out->exempt_sales_fen = sales_fen;
        out->rate_bp = 0;
        out->tax_fen = 0;
        out->relief_fen = tax_mul_bp(sales_fen, p->levy_rate_bp);
    } else {
        out->exempt_sales_fen = 0;
        out->rate_bp = p->reduced_rate_bp;
        out->tax_fen = tax_mul_bp(sales_fen, p->reduced_rate_bp);
        out->relief_fen = tax_mul_bp(sales_fen, p->levy_rate_bp) - out->tax_fen;
    }
}

void tax_vat_general(long long output_fen, long long input_fen, long long transferred_out_fen,
                     long long prior_credit_fen, struct tax_vat_general_out *out)
{
    out->output_fen = output_fen;
    out->input_fen = input_fen;
    out->transferred_out_fen = transferred_out_fen;
    out->prior_credit_fen = prior_credit_fen;
    out->deductible_fen = max0(input_fen - transferred_out_fen + prior_credit_fen);
    out->deducted_fen = out->deductible_fen < output_fen ? out->deductible_fen : output_fen;
    out->tax_fen = output_fen - out->deducted_fen;
    out->end_credit_fen = out->deductible_fen - out->deducted_fen;
}

void tax_cit_prepay(const struct tax_cit_params *p, long long profit_fen, long long employees,
                    long long assets_fen, long long prepaid_fen, struct tax_cit_out *out)
{
    out->profit_fen = max0(profit_fen);
    out->small_low_profit = out->profit_fen <= p->slp_max_taxable_fen && employees <= p->slp_max_employees &&
                            assets_fen <= p->slp_max_assets_fen;
    out->tax_fen = tax_mul_bp(out->profit_fen, p->rate_bp);
    out->relief_fen = out->small_low_profit
                          ? out->tax_fen - tax_mul_bp2(out->profit_fen, p->slp_portion_bp, p->slp_rate_bp)
                          : 0;
    out->prepaid_fen = prepaid_fen;
    out->due_fen = max0(out->tax_fen - out->relief_fen - prepaid_fen);
}
