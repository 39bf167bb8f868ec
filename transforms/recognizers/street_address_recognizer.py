from transforms.recognizers.base import PiiflowRecognizer, register

_W = r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'\-]*"  # a word of a street's name, accents allowed
#: Street kinds written after the name (23 Wressle Road, 87 Jakobi St.).
_KIND_AFTER = (r"(?:[Ss]treet|St\.?|[Rr]oad|Rd\.?|[Aa]venue|Ave\.?|[Bb]oulevard|Blvd\.?|[Ll]ane|Ln\.?|[Dd]rive|"
               r"[Cc]ourt|[Pp]lace|[Ss]quare|[Tt]errace|[Pp]arkway|[Hh]ighway|[Cc]rescent|[Cc]lose|[Gg]ardens)")
#: Street kinds written before the name (107 Rue Abdelaziz, Via Roma 5, Calle Mayor 3).
_KIND_BEFORE = r"(?:Rue|rue|Via|via|Calle|calle|Rua|rua|Avenida|avenida|Viale|Piazza|Plaza|Chemin|Boulevard)"
#: Street-name endings of Germanic, Nordic and Central European languages (Nassaustraat 123, Ziegelgasse 26).
_GLUED_KIND = (r"(?:straat|strasse|straße|gasse|weg|laan|plein|allee|gracht|kade|gatan|vägen|gade|vej|veien|katu|"
               r"tie|utca|ulica|gürtel|ring|platz|markt)")
_NO = r"\d{1,5}[A-Za-z]?"
_UNIT = r"(?:,?\s*(?:[Aa]pt\.?|[Aa]partment|[Ss]uite|[Uu]nit|[Ff]lat)\s*#?\s*\d{1,5}[A-Za-z]?)?"


@register
class StreetAddressRecognizer(PiiflowRecognizer):
    """Street addresses written in Latin script: a house number and a street whose kind is spelled out (23 Wressle
    Road, 107 Rue Abdelaziz Thâalbi, Nassaustraat 123, Ziegelgasse 26), with an apartment or suite when one
    follows; an apartment or suite alone; and a postcode after its label (ZIP: 11164)."""

    SUPPORTED_ENTITY = "STREET_ADDRESS"

    ENTITY_ROLES = {"STREET_ADDRESS": "direct"}
    #: Every pattern puts a house number next to a Latin word, or has a unit or postcode label: a cheap gate
    #: (a long alternation of street words cost ten times the other recognizers' gates together).
    PREFILTER = r"\d[ \t\n]+[a-z\u00c0-\u024f]|[a-z\u00c0-\u024f][ \t]+\d|apt|suite|zip|postal|postcode"
    PATTERNS = [
        ("number_street_kind", rf"(?<![\w.]){_NO}\s+(?:{_W}\s+){{1,3}}{_KIND_AFTER}(?![\w]){_UNIT}", 0.55),
        ("kind_street_number", rf"(?<![\w.])(?:{_NO}\s+)?{_KIND_BEFORE}\s+(?:{_W}\s+){{0,3}}{_W}(?:\s+{_NO})?"
                               rf"(?![\w]){_UNIT}", 0.5),
        ("glued_kind_number", rf"(?<![\w]){_W}{_GLUED_KIND}\s+{_NO}(?![\w]){_UNIT}", 0.55),
        ("unit", r"(?<![\w])(?:[Aa]pt\.?|[Aa]partment|[Ss]uite)\s*#?\s*\d{1,5}[A-Za-z]?(?![\w])", 0.45),
        ("postcode", r"(?i)(?<![\w])(?:zip(?: code)?|postal code|postcode)\s*[:#]?\s*\d{5}(?:-\d{4})?(?!\d)", 0.6),
    ]
    CONTEXT = ["address", "lives at", "live at", "lives on", "lived in", "street", "billing", "shipping", "mail to"]
