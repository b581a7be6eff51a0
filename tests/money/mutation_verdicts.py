"""Survivors of `make mutate` judged by reading them (docs/money.md, "Survivors of …"): equivalent (no
state or answer can differ) or accepted (a difference only in non-money metadata). `mutation_score`
leaves the equivalent ones out of the score and lists the accepted ones as survivors with their reason.

A name is mutmut's (`mutmut show NAME`); names shift when their function changes, so the score flags
a listed name that mutmut no longer generates, or that a test now kills.
"""

EQUIVALENT: dict[str, str] = {
    "app.core.once.xǁOnceHolderǁdecide_once__mutmut_2": "projection 2 includes the field like 1",
    "app.core.once.xǁOnceHolderǁdecide_once__mutmut_50": "the retry back-off's jitter bound",
    "app.users.repository.xǁUserRepositoryǁcredits_of__mutmut_10": "projection 2 includes the field like 1",
    "app.users.repository.xǁUserRepositoryǁcredits_of__mutmut_16": "no user without a document (soft delete only)",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_16": "{deletedAt: null} matches a missing deletedAt",
    "app.users.credits.xǁCreditLedgerǁ_settled_balance__mutmut_3": "whole document read, same two fields used",
    "app.live_streams.repository.xǁLiveStreamRepositoryǁadmit_rental__mutmut_14": "nothing reads the ordering field",
    "app.replays.repository.xǁReplayRentalRepositoryǁstore_answer__mutmut_35": "projection 2 includes like 1",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_22": "status condition implies it",
    "app.superlikes.service.xǁSuperlikeServiceǁdrive__mutmut_49": "a 10-credit superlike's shares are never 1",
    "app.live_streams.pots.xǁContributionRepositoryǁstore_answer__mutmut_27": "differs only on a stale own read",
    "app.live_streams.pots.xǁPotǁ_reload__mutmut_5": "differs only on a stale own read (causal session)",
    "app.live_streams.pots.xǁPotǁstart__mutmut_22": "{response: null} matches a missing field",
    "app.users.credits.xǁCreditTransactionRepositoryǁpending_among__mutmut_12": "whole document: its caller reads direction and amount only",
    "app.users.credits.xǁCreditTransactionRepositoryǁfinal_among__mutmut_19": "projection 2 includes like 1",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_9": "a missing opVersion reads as 0; the first $inc creates it",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_11": "a missing opVersion reads as 0; the first $inc creates it",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_18": "{deletedAt: null} matches a missing deletedAt",
    "app.users.repository.xǁUserRepositoryǁcredits_of__mutmut_3": "whole document: only credits is read",
    "app.live_streams.repository.xǁLiveStreamRepositoryǁoverdue_scheduled__mutmut_8": "sort(key) with no direction is ascending",
    "app.live_streams.repository.xǁLiveStreamRepositoryǁdue_follow_ups__mutmut_5": "sort(key) with no direction is ascending",
    "app.live_streams.entries.xǁEntryServiceǁprecheck__mutmut_4": "a balance is never below 0: same answer",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_57": "a missing opVersion reads as 0",
    **{
        f"app.live_streams.entries.x_is_admitting__mutmut_{n}": "active and deleted is unreachable"
        for n in range(5, 9)
    },
    **{
        f"app.live_streams.entries.xǁEntryRepositoryǁpaid__mutmut_{n}": "a shortcut: admit finds the entry by key"
        for n in (1, *range(5, 13))
    },
    **{
        f"app.live_streams.entries.xǁEntryRepositoryǁpaid__mutmut_{n}": "projection only"
        for n in (3, 4, *range(13, 17))
    },
    "app.live_streams.follow_ups.xǁFollowUpRunnerǁrun__mutmut_1": "left = None: `not None` is `not False`, and it is only ever set to True otherwise",
    "app.live_streams.funding.xǁFundingServiceǁfund__mutmut_12": "cast(None, …) is a runtime no-op",
    "app.live_streams.mini_crowd_fundings.x_mini_out__mutmut_25": "goal > 0 (schema gt=0): the goal-0 branch is unreachable",
    "app.live_streams.mini_crowd_fundings.x_mini_out__mutmut_34": "goal > 0 (schema gt=0): the goal-0 branch is unreachable",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingRepositoryǁclose__mutmut_21": "$unset ignores its value",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_54": "{payout: null} matches a missing field; readers use .get",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_55": "{payout: null} matches a missing field; readers use .get",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_56": "a missing opVersion reads as 0",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_58": "a missing opVersion reads as 0",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_59": "opVersion's start value: each decision is conditioned on the value it read",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_60": "a missing opInFlight is read as {}",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_61": "a missing opInFlight is read as {}",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_62": "a missing opInFlight is read as {}",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁsettle_due__mutmut_1": "batch limit 100 → 101: the next pass takes the rest",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁresume_stale__mutmut_1": "batch limit 100 → 101: the next pass takes the rest",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁresume_stale__mutmut_5": "limit dropped: Pot.resume_stale's default is the same 100",
    "app.replays.repository.xǁReplayRentalRepositoryǁstore_answer__mutmut_30": "whole document read: only response is used",
    "app.replays.repository.xǁReplayRentalRepositoryǁstore_answer__mutmut_32": "whole document read: only response is used",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_revenue__mutmut_23": "status condition implies it (active rows always have settlement null)",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_revenue__mutmut_24": "status condition implies it (active rows always have settlement null)",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_21": "status condition implies it",
    "app.replays.settlement.xǁRentalSettlementǁdistribute__mutmut_33": "creator skipped only at a 0 share, and then the guest's (equal or 0) share is 0 too",
}

ACCEPTED: dict[str, str] = {
    "app.core.once.xǁOnceHolderǁdecide_once__mutmut_27": "unserialised path (harness only): non-money fields",
    "app.users.credits.xǁCreditLedgerǁ_start__mutmut_28": "the pending row's updatedAt name",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_40": "refundedAt: nothing reads it",
    "app.superlikes.service.xǁSuperlikeServiceǁsend__mutmut_26": "error text (contract tests own it)",
    "app.superlikes.service.xǁSuperlikeServiceǁsend__mutmut_56": "error text (contract tests own it)",
    "app.superlikes.repository.xǁSuperlikeRepositoryǁfinish__mutmut_14": "superlike updatedAt",
    "app.superlikes.repository.xǁSuperlikeRepositoryǁfinish__mutmut_15": "superlike updatedAt",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_63": "createdAt: listing order",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁsettle__mutmut_3": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁsettle_stream__mutmut_5": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_78": "closedAt: nothing reads it",
    "app.superlikes.service.xǁSuperlikeServiceǁ_start__mutmut_69": "pending row's updatedAt name: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingRepositoryǁclose__mutmut_13": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingRepositoryǁclose__mutmut_14": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingRepositoryǁclose__mutmut_15": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_64": "createdAt: listing order",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_65": "createdAt: listing order",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_66": "updatedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_67": "updatedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_68": "updatedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_85": "extra insert try succeeds only if a close frees a slot concurrently; creating then is also correct (no money moves)",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁ_settle__mutmut_2": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁsettle_due__mutmut_8": "closedAt: nothing reads it (now is only used for closedAt)",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_41": "refundedAt: nothing reads it",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_42": "refundedAt: nothing reads it",
}
