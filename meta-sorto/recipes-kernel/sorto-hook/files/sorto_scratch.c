// SPDX-License-Identifier: GPL-2.0-only
/*
 * sorto_hook: the scratchpad entries of a policy.
 *
 * Which kernel functions run from on-chip SRAM is decided when the kernel
 * is built (CONFIG_ARM_SCRATCHPAD_FUNCTIONS, chosen by "sorto
 * scratchpad-list" from the policies of the image) and when it boots
 * (scratchpad=SIZE@ADDR).  An exec changes nothing; the record says, per
 * function the program asked for, whether it is resident and if not why,
 * so that a program whose hot path is missing from the block shows up.
 * Reading the kernel's answer grants nothing, so there is no trust check.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#ifdef CONFIG_ARM_SCRATCHPAD
#include <asm/scratchpad.h>
#endif

#include "sorto_act.h"

/* Where @name runs from: applied (SRAM) or skipped with @why. */
static enum sorto_result sorto_scratch_where(const char *name,
					     const char **applied,
					     const char **why)
{
#ifdef CONFIG_ARM_SCRATCHPAD
	const char *state = "unknown";
	int r = arm_scratchpad_lookup(name, &state);

	*applied = "dram";
	if (r > 0) {
		*applied = "sram";
		*why = "resident";
		return SORTO_APPLIED;
	}
	/* The kernel's state names never hold spaces: no-sram, ... */
	*why = r == 0 ? state : "not-in-kernel-list";
	return SORTO_SKIPPED;
#else
	*applied = "-";
	*why = "kernel-without-scratchpad";
	return SORTO_SKIPPED;
#endif
}

void sorto_apply_scratch(const struct sorto_policy *pol,
			 struct sorto_actlog *log)
{
	const char *applied, *why;
	enum sorto_result res;
	char asked[SORTO_VAL_MAX];
	unsigned int i;

	for (i = 0; i < pol->n_scratch; i++) {
		const struct sorto_scratch *sp = &pol->scratch[i];

		snprintf(asked, sizeof(asked), "weight:%u", sp->weight);
		res = sorto_scratch_where(sp->function.s, &applied, &why);
		sorto_action(log, "scratchpad", sp->function.s, asked, applied,
			     res, why);
	}
}
