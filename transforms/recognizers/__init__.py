"""piiflow's recognizers, one module each, registered in ``RECOGNIZERS`` on import.

Presidio ships none for Chinese identifiers, and its ``\\b``-bounded patterns fail next to Chinese characters;
these use explicit ASCII boundaries and validate check digits where the format has them.
"""

from transforms.recognizers import (  # noqa: F401  (imported to register)
    bank_card_recognizer,
    cell_id_recognizer,
    cn_address_recognizer,
    cn_hk_macau_permit_recognizer,
    cn_landline_recognizer,
    cn_license_plate_recognizer,
    cn_mobile_recognizer,
    cn_ner_recognizer,
    cn_passport_recognizer,
    cn_resident_id_recognizer,
    cn_uscc_recognizer,
    device_id_recognizer,
    email_recognizer,
    gps_recognizer,
    imei_recognizer,
    ip_recognizer,
    lac_recognizer,
    mac_address_recognizer,
    nickname_recognizer,
    person_recognizer,
    phone_number_recognizer,
    qq_wechat_recognizer,
    room_number_recognizer,
    street_address_recognizer,
    url_recognizer,
)
from transforms.recognizers.base import LANGUAGES, RECOGNIZERS, PiiflowRecognizer, entity_roles, register

__all__ = ["LANGUAGES", "RECOGNIZERS", "PiiflowRecognizer", "entity_roles", "register"]
