"""The demo action that ``make run`` seeds, so a newcomer has something to sign, in
English, Persian and Arabic: what a right-to-left supporter sees shows at once
(``?lang=fa``, ``?lang=ar``)."""

from __future__ import annotations

from datetime import date, timedelta

from petitions.models import Action
from petitions.services.actions import TargetInput, create_action, get_action
from petitions.services.public_page import set_translations

DEMO_SLUG = "camp-liberty-safety"

DEMO_BODY = """\
More than two thousand people live in Camp Liberty, a former military base near
Baghdad airport. They are refugees, registered as asylum seekers by the UN refugee
agency, and they have waited years for a country to take them in.

The camp is not safe. Armed units are stationed at its gates and inside its
fence; cameras and listening posts watch the residents day and night. Deliveries
of fuel, food and medicine are held back. Water tanks run dry and the power
fails for days in the summer heat. Residents who fall ill wait weeks for a
doctor, and lawyers are turned away at the checkpoint.

The United Nations promised these people protection when they moved to the
camp. **The Secretary-General can make that promise real.** We ask him to act
now, before more lives are lost.
"""

DEMO_DEMANDS = [
    "Remove the armed units and the surveillance equipment from the camp.",
    "Restore a reliable supply of water and electricity.",
    "Give residents direct access to doctors, to lawyers and to UN monitors.",
    "Speed up resettlement of the residents to safe third countries.",
]


DEMO_TRANSLATIONS = {
    "fa": {
        "title": "امنیت ساکنان کمپ لیبرتی را تضمین کنید",
        "summary": "پناهجویان کمپ لیبرتی در عراق زیر نظر نیروهای مسلح، بدون آب، برق و درمان "
                   "مطمئن زندگی می‌کنند. از دبیرکل سازمان ملل بخواهید از آنان محافظت کند.",
        "body": """\
بیش از دو هزار نفر در کمپ لیبرتی، پایگاه نظامی سابقی نزدیک فرودگاه بغداد، زندگی
می‌کنند. آنان پناهجویانی هستند که کمیساریای عالی پناهندگان سازمان ملل ثبتشان کرده
است، و سال‌هاست منتظرند کشوری پذیرایشان شود.

کمپ امن نیست. نیروهای مسلح در ورودی و درون حصار آن مستقرند و دوربین‌ها و
پست‌های شنود شب و روز ساکنان را زیر نظر دارند. سوخت، غذا و دارو به موقع نمی‌رسد.
مخزن‌های آب خالی می‌مانند و در گرمای تابستان برق روزها قطع می‌شود. بیماران هفته‌ها
منتظر پزشک می‌مانند و وکیلان را در ایست بازرسی بازمی‌گردانند.

سازمان ملل هنگام انتقال این مردم به کمپ به آنان وعدهٔ حمایت داد. **دبیرکل
می‌تواند این وعده را عملی کند.** از او می‌خواهیم پیش از آنکه جان‌های بیشتری از دست
برود، هم‌اکنون اقدام کند.
""",  # noqa: RUF001 (Persian letters, not look-alikes)
        "demands": "نیروهای مسلح و تجهیزات شنود را از کمپ خارج کنید.\n"
                   "آب و برق را به‌طور پایدار برقرار کنید.\n"
                   "دسترسی مستقیم ساکنان به پزشک، وکیل و ناظران سازمان ملل را فراهم کنید.\n"
                   "اسکان ساکنان در کشورهای ثالث امن را شتاب دهید.",
    },
    "ar": {
        "title": "اضمنوا سلامة سكان مخيم ليبرتي",
        "summary": "يعيش اللاجئون في مخيم ليبرتي في العراق تحت الحراسة المسلحة، بلا ماء أو "
                   "كهرباء أو رعاية طبية موثوقة. اطلبوا من الأمين العام للأمم المتحدة حمايتهم.",
        "body": """\
يعيش أكثر من ألفي شخص في مخيم ليبرتي، وهو قاعدة عسكرية سابقة قرب مطار بغداد. إنهم
لاجئون سجّلتهم مفوضية الأمم المتحدة لشؤون اللاجئين طالبي لجوء، وينتظرون منذ سنوات
بلدًا يستقبلهم.

المخيم ليس آمنًا. تتمركز وحدات مسلحة عند بواباته وداخل سياجه، وتراقب الكاميرات
ونقاط التنصت السكان ليلًا ونهارًا. يُمنع وصول الوقود والغذاء والدواء، وتجف خزانات
المياه وتنقطع الكهرباء أيامًا في حر الصيف. ينتظر المرضى أسابيع لرؤية طبيب، ويُردّ
المحامون عند نقطة التفتيش.

وعدت الأمم المتحدة هؤلاء الناس بالحماية حين انتقلوا إلى المخيم. **يستطيع الأمين
العام أن يجعل هذا الوعد حقيقة.** نطلب منه أن يتحرك الآن، قبل أن تُزهق أرواح أخرى.
""",
        "demands": "أخرجوا الوحدات المسلحة ومعدات المراقبة من المخيم.\n"
                   "أعيدوا إمدادًا منتظمًا بالماء والكهرباء.\n"
                   "امنحوا السكان وصولًا مباشرًا إلى الأطباء والمحامين ومراقبي الأمم المتحدة.\n"
                   "سرّعوا إعادة توطين السكان في بلدان ثالثة آمنة.",
    },
}


def seed_demo_action() -> tuple[Action, bool]:
    """Create the demo action unless it exists, and give it its Persian and Arabic
    texts when it has none (a demo seeded by an older version). Returns it and whether
    it was created."""
    existing = get_action(DEMO_SLUG)
    if existing is not None:
        if not existing.translations:
            set_translations(existing, DEMO_TRANSLATIONS, actor=None, via="cli")
        return existing, False
    action = create_action(
        slug=DEMO_SLUG,
        title="Guarantee the safety of the residents of Camp Liberty",
        summary="Refugees in Camp Liberty, Iraq, live under armed guard, without reliable "
                "water, power or medical care. Ask the UN Secretary-General to protect them.",
        body=DEMO_BODY,
        demands=DEMO_DEMANDS,
        targets=[TargetInput(name="UN Secretary-General",
                             title="Secretary-General of the United Nations",
                             organization="United Nations", email="sg@un.example")],
        goal=10_000,
        deadline=date.today() + timedelta(days=30),
        publish=True,
    )
    set_translations(action, DEMO_TRANSLATIONS, actor=None, via="cli")
    return action, True
