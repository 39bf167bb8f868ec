from transforms.recognizers.base import PiiflowRecognizer, register

_N = r"[0-9０-９]"


@register
class RoomNumberRecognizer(PiiflowRecognizer):
    """The end of a street address written on its own in chat: a room (1203室), or a door or room number after its
    cue (门牌号是1806, 房间号：1203). With the rest of an address it is part of that CN_ADDRESS; alone it still
    narrows a person's home to one door, so a release redacts it. Room numbers have three or more digits (3室2厅 is
    a flat's layout, not an address)."""

    SUPPORTED_ENTITY = "CN_ADDRESS"

    ENTITY_ROLES = {"CN_ADDRESS": "direct"}
    PREFILTER = r"\d{3}|[门房]牌|房间号|门号"
    PATTERNS = [
        ("room", rf"(?<![0-9０-９A-Za-z]){_N}{{3,5}}(?:室|房间|号房)", 0.55),
        ("door_number", rf"(?<=(?:门牌号?|房间号|房号|门号)码?(?:是|为|：|:)?\s*){_N}{{1,5}}(?:号|室)?(?![0-9])", 0.6),
    ]
    CONTEXT = ["住", "地址", "寄", "送到", "放到", "小区", "楼", "单元"]
