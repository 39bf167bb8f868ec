from transforms.recognizers.base import PiiflowRecognizer, register

_CUE = r"[\s:：是为号码账的]{0,4}"


@register
class QqNumberRecognizer(PiiflowRecognizer):
    """QQ numbers (5-11 digits): only after a QQ cue, since bare digit runs are everywhere, or as the name of a QQ
    mailbox whose address is cut short (``415392980@qq.``; a whole address is an e-mail finding)."""

    SUPPORTED_ENTITY = "QQ_NUMBER"

    ENTITY_ROLES = {"QQ_NUMBER": "direct"}
    PREFILTER = r"[Qq]|扣扣|企鹅"
    PATTERNS = [("qq", rf"(?<=(?:QQ|qq|Qq|扣扣|企鹅|工作Q|联系Q|加Q)(?:交流群|粉丝群|群号?|号码?)?{_CUE})[1-9]\d{{4,10}}(?!\d)",
                 0.7),
                ("qq_mailbox", r"(?<![\dA-Za-z._%+\-])[1-9]\d{4,10}(?=@(?:vip\.)?qq\.?(?![.A-Za-z]))", 0.6)]
    CONTEXT = ["qq", "扣扣"]


@register
class WechatIdRecognizer(PiiflowRecognizer):
    """WeChat ids: ``wxid_...`` anywhere, or a 6-20 character id after a WeChat cue (微信, vx, wx...)."""

    SUPPORTED_ENTITY = "WECHAT_ID"

    ENTITY_ROLES = {"WECHAT_ID": "direct"}
    PREFILTER = r"wxid_|[微威薇Vv]信|[VvWw][Xx]|weixin|wechat|WeChat"
    PATTERNS = [
        ("wxid", r"(?<![A-Za-z0-9_])wxid_[A-Za-z0-9]{6,22}(?![A-Za-z0-9_])", 0.8),
        ("wechat_cue", rf"(?<=(?:微信|威信|薇信|V信|v信|VX|vx|Vx|WX|wx|weixin|wechat|WeChat)(?:公众[帐账]?号|公众平台)?{_CUE})"
                       r"[A-Za-z][-_A-Za-z0-9]{5,19}(?![-_A-Za-z0-9])", 0.7),
    ]
    CONTEXT = ["微信", "wechat", "vx", "wx"]
