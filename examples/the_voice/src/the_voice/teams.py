"""Which team owns which kind of feedback: the 77 banking77 categories -> 8 teams.

The table is the bank's organisation, not the model's: the endpoint's ``map`` post-step applies it,
so re-organising teams is an endpoint change, never a retrain.
"""

from __future__ import annotations

from typing import Final

TEAMS: Final[dict[str, tuple[str, ...]]] = {
    "cards": (
        "activate_my_card",
        "card_about_to_expire",
        "card_acceptance",
        "card_arrival",
        "card_delivery_estimate",
        "card_linking",
        "card_not_working",
        "card_swallowed",
        "contactless_not_working",
        "get_physical_card",
        "getting_spare_card",
        "order_physical_card",
        "supported_cards_and_currencies",
        "visa_or_mastercard",
        "apple_pay_or_google_pay",
        "getting_virtual_card",
        "get_disposable_virtual_card",
        "virtual_card_not_working",
        "disposable_card_limits",
        "change_pin",
        "pin_blocked",
    ),
    "card-security": (
        "lost_or_stolen_card",
        "compromised_card",
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "direct_debit_payment_not_recognised",
        "lost_or_stolen_phone",
    ),
    "payments": (
        "card_payment_fee_charged",
        "card_payment_wrong_exchange_rate",
        "declined_card_payment",
        "extra_charge_on_statement",
        "pending_card_payment",
        "reverted_card_payment?",
        "transaction_charged_twice",
        "request_refund",
        "Refund_not_showing_up",
        "atm_support",
        "cash_withdrawal_charge",
        "declined_cash_withdrawal",
        "pending_cash_withdrawal",
        "wrong_amount_of_cash_received",
        "wrong_exchange_rate_for_cash_withdrawal",
    ),
    "transfers": (
        "beneficiary_not_allowed",
        "cancel_transfer",
        "declined_transfer",
        "failed_transfer",
        "pending_transfer",
        "receiving_money",
        "transfer_fee_charged",
        "transfer_into_account",
        "transfer_not_received_by_recipient",
        "transfer_timing",
        "balance_not_updated_after_bank_transfer",
    ),
    "top-ups": (
        "automatic_top_up",
        "pending_top_up",
        "top_up_by_bank_transfer_charge",
        "top_up_by_card_charge",
        "top_up_by_cash_or_cheque",
        "top_up_failed",
        "top_up_limits",
        "top_up_reverted",
        "topping_up_by_card",
        "verify_top_up",
        "balance_not_updated_after_cheque_or_cash_deposit",
    ),
    "exchange": ("exchange_charge", "exchange_rate", "exchange_via_app", "fiat_currency_support"),
    "account": (
        "age_limit",
        "country_support",
        "edit_personal_details",
        "passcode_forgotten",
        "terminate_account",
    ),
    "identity": (
        "unable_to_verify_identity",
        "verify_my_identity",
        "verify_source_of_funds",
        "why_verify_identity",
    ),
}

DEFAULT_TEAM: Final = "customer-care"
"""Where a category missing from the table goes (none is, today: a test checks all 77 are mapped)."""


def team_of_category() -> dict[str, str]:
    """Category -> team, the ``map`` step's table."""
    return {category: team for team, categories in TEAMS.items() for category in categories}
